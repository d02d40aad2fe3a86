/*
 * metrics_http: GET /metrics over evhttp.  A scrape is small and quick
 * (the counters are summed in place), so it is answered in the main
 * thread's loop; requests are bounded in header size, body size and
 * time, and only GET and HEAD are allowed.
 *
 * Connections are bounded too: at most METRICS_HTTP_MAX_CONNECTIONS are
 * open at once, and one more is logged and closed as soon as it is
 * accepted.  libevent 2.1 has no evhttp_set_max_connections (2.2 has), so
 * this module counts them itself.  evhttp makes each connection's
 * bufferevent with the callback given to evhttp_set_bevcb; the listeners
 * are then off until the settle event, later in the same turn of the
 * loop, which finds the connection evhttp has set up around that
 * bufferevent (its callback argument: how evhttp wires them, checked
 * against evhttp_connection_get_bufferevent) and sets its close callback.
 * evhttp calls that once, whatever frees the connection (the peer, an
 * error, a timeout, a refusal here, evhttp_free), and it counts the
 * connection out.
 *
 * evhttp's timeout counts from the last byte read or written, so a peer
 * that sends a byte of a request every few seconds would keep its
 * connection for ever; each connection also has a deadline by which a
 * whole request must have come, set when it opens and again at each
 * request.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "log.h"
#include "metrics_http.h"

#define METRICS_HTTP_TIMEOUT_SECONDS	10
/*
 * From a connection's start, or a request, to the next request complete.
 * Longer than the timeout, so an idle connection meets that first and
 * this catches only a peer that trickles its request.
 */
#define METRICS_HTTP_REQUEST_SECONDS	15
#define METRICS_HTTP_MAX_HEADERS	8192
#define METRICS_HTTP_MAX_OUTPUT		(4u << 20)
#define METRICS_HTTP_PEER_LEN		96	/* "[" IPv6 "%" scope "]:" port */

struct metrics_http_conn {
	struct metrics_http		*mh;
	struct metrics_http_conn	*next;		/* in mh->conns */
	struct metrics_http_conn	**prev;
	struct bufferevent		*bev;		/* held until settled; NULL after */
	struct evhttp_connection	*evcon;		/* NULL until settled */
	struct event			*deadline;	/* for a whole request */
	bool				 over;		/* past the cap: closed when settled */
};

struct metrics_http {
	struct evhttp		*http;
	metrics_http_render_fn	 render;
	metrics_http_refused_fn	 refused;
	void			*arg;
	struct buf		 text;		/* reused by every scrape */
	struct event		*settle;	/* new connections: watch or refuse them */
	struct evconnlistener	**listeners;	/* evhttp's, one per socket */
	unsigned		 listener_count;
	struct metrics_http_conn *conns;	/* every connection evhttp has open */
	unsigned		 open;		/* how many */
};

static const struct timeval	metrics_http_request_tv = { METRICS_HTTP_REQUEST_SECONDS, 0 };

static struct log_ratelimit	metrics_http_refused_rl;
static struct log_ratelimit	metrics_http_slow_rl;
static struct log_ratelimit	metrics_http_error_rl;

/* The peer as "addr:port" or "[addr]:port". */
static void
metrics_http_peer(struct evhttp_connection *evcon, char *out, size_t len)
{
	char		*address = NULL;
	ev_uint16_t	 port = 0;

	evhttp_connection_get_peer(evcon, &address, &port);
	if (address == NULL)
		(void)snprintf(out, len, "?");
	else
		(void)snprintf(out, len, strchr(address, ':') != NULL ? "[%s]:%u" : "%s:%u",
		    address, (unsigned)port);
}

static void
metrics_http_listen(struct metrics_http *mh, bool on)
{
	for (unsigned i = 0; i < mh->listener_count; i++) {
		if (on)
			(void)evconnlistener_enable(mh->listeners[i]);
		else
			(void)evconnlistener_disable(mh->listeners[i]);
	}
}

/* Count c out and free it. */
static void
metrics_http_forget(struct metrics_http_conn *c)
{
	if (c->bev != NULL)
		(void)bufferevent_decref(c->bev);
	event_free(c->deadline);
	if (c->next != NULL)
		c->next->prev = c->prev;
	*c->prev = c->next;
	c->mh->open--;
	free(c);
}

/* evhttp is freeing the connection, whatever the reason: once per connection. */
static void
metrics_http_on_close(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	metrics_http_forget(arg);
}

static void
metrics_http_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http_conn	*c = arg;
	char				 peer[METRICS_HTTP_PEER_LEN];

	(void)fd;
	(void)what;
	metrics_http_peer(c->evcon, peer, sizeof peer);
	log_limited(&metrics_http_slow_rl, LOG_LEVEL_NOTICE,
	    "metrics: %s: closed, no whole request in %d s", peer, METRICS_HTTP_REQUEST_SECONDS);
	evhttp_connection_free(c->evcon);	/* its close callback frees c */
}

static void
metrics_http_arm(struct metrics_http_conn *c)
{
	if (evtimer_add(c->deadline, &metrics_http_request_tv) != 0) {
		log_limited(&metrics_http_error_rl, LOG_LEVEL_ERROR,
		    "metrics: cannot time a connection; closing it");
		evhttp_connection_free(c->evcon);
	}
}

/* evhttp needs a bufferevent for a connection it just accepted. */
static struct bufferevent *
metrics_http_on_connection(struct event_base *base, void *arg)
{
	struct metrics_http		*mh = arg;
	struct metrics_http_conn	*c;

	/* One connection a turn: the settle event deals with it and turns them back on. */
	metrics_http_listen(mh, false);
	event_active(mh->settle, EV_TIMEOUT, 0);
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->deadline = evtimer_new(base, metrics_http_on_deadline, c)) == NULL ||
	    (c->bev = bufferevent_socket_new(base, -1, 0)) == NULL) {
		if (c != NULL && c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		log_limited(&metrics_http_error_rl, LOG_LEVEL_ERROR,
		    "metrics: out of memory for a connection");
		return NULL;	/* evhttp tries its own; that one goes uncounted */
	}
	/* Held until settled, even if evhttp gives up on the connection first. */
	bufferevent_incref(c->bev);
	c->mh = mh;
	c->over = mh->open >= METRICS_HTTP_MAX_CONNECTIONS;
	mh->open++;
	c->next = mh->conns;
	c->prev = &mh->conns;
	if (mh->conns != NULL)
		mh->conns->prev = &c->next;
	mh->conns = c;
	return c->bev;
}

/* The connection evhttp has made around c->bev: watch it, or refuse it. */
static void
metrics_http_settle(struct metrics_http_conn *c)
{
	struct bufferevent	*bev = c->bev;
	void			*evcon = NULL;
	char			 peer[METRICS_HTTP_PEER_LEN];

	bufferevent_getcb(bev, NULL, NULL, NULL, &evcon);
	if (evcon == NULL || evhttp_connection_get_bufferevent(evcon) != bev) {
		/*
		 * evhttp has freed it already (bufferevent_free clears the
		 * callbacks), or wires them otherwise: then it goes uncounted.
		 */
		metrics_http_forget(c);
		return;
	}
	c->bev = NULL;
	(void)bufferevent_decref(bev);
	c->evcon = evcon;
	evhttp_connection_set_closecb(c->evcon, metrics_http_on_close, c);
	if (!c->over) {
		metrics_http_arm(c);
		return;
	}
	metrics_http_peer(c->evcon, peer, sizeof peer);
	log_limited(&metrics_http_refused_rl, LOG_LEVEL_WARNING,
	    "metrics: %s: connection refused, %u open already", peer,
	    METRICS_HTTP_MAX_CONNECTIONS);
	c->mh->refused(c->mh->arg);
	evhttp_connection_free(c->evcon);	/* its close callback frees c */
}

static void
metrics_http_on_settle(evutil_socket_t fd, short what, void *arg)
{
	struct metrics_http		*mh = arg;
	struct metrics_http_conn	*c, *next;

	(void)fd;
	(void)what;
	/* Settling one frees at most that one. */
	for (c = mh->conns; c != NULL; c = next) {
		next = c->next;
		if (c->evcon == NULL)
			metrics_http_settle(c);
	}
	metrics_http_listen(mh, true);
}

static struct metrics_http_conn *
metrics_http_find(struct metrics_http *mh, const struct evhttp_connection *evcon)
{
	struct metrics_http_conn *c;

	for (c = mh->conns; c != NULL; c = c->next)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static void
metrics_http_on_request(struct evhttp_request *req, void *arg)
{
	struct metrics_http		*mh = arg;
	const struct evhttp_uri		*uri = evhttp_request_get_evhttp_uri(req);
	const char			*path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct metrics_http_conn	*c;
	struct evbuffer			*body;

	/* A whole request came: the next has as long, from now. */
	if ((c = metrics_http_find(mh, evhttp_request_get_connection(req))) != NULL)
		(void)evtimer_add(c->deadline, &metrics_http_request_tv);
	if (path == NULL || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, HTTP_NOTFOUND, "calcd serves /metrics only");
		return;
	}
	mh->text.len = 0;
	if (mh->render(mh->arg, &mh->text) != 0) {
		log_error("metrics: the exposition passed %u bytes", METRICS_HTTP_MAX_OUTPUT);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	body = evhttp_request_get_output_buffer(req);
	if (evbuffer_add(body, mh->text.data, mh->text.len) != 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
	buf_shrink(&mh->text, (size_t)256 * 1024);
}

struct metrics_http *
metrics_http_open(struct event_base *base, const int *fds, unsigned count,
    metrics_http_render_fn render, metrics_http_refused_fn refused, void *arg)
{
	struct metrics_http	*mh;
	unsigned		 i;

	if ((mh = calloc(1, sizeof *mh)) == NULL ||
	    (mh->listeners = calloc(count > 0 ? count : 1,
	    sizeof(struct evconnlistener *))) == NULL ||
	    (mh->settle = event_new(base, -1, 0, metrics_http_on_settle, mh)) == NULL ||
	    (mh->http = evhttp_new(base)) == NULL) {
		log_error("metrics: cannot set up the HTTP server");
		if (mh != NULL) {
			if (mh->settle != NULL)
				event_free(mh->settle);
			free(mh->listeners);
		}
		free(mh);
		for (i = 0; i < count; i++)
			close(fds[i]);
		return NULL;
	}
	mh->render = render;
	mh->refused = refused;
	mh->arg = arg;
	buf_init(&mh->text, METRICS_HTTP_MAX_OUTPUT);
	evhttp_set_allowed_methods(mh->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(mh->http, METRICS_HTTP_TIMEOUT_SECONDS);
	evhttp_set_max_headers_size(mh->http, METRICS_HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(mh->http, 0);
	evhttp_set_gencb(mh->http, metrics_http_on_request, mh);
	evhttp_set_bevcb(mh->http, metrics_http_on_connection, mh);
	for (i = 0; i < count; i++) {
		struct evhttp_bound_socket *bound;

		if ((bound = evhttp_accept_socket_with_handle(mh->http, fds[i])) == NULL) {
			log_error("metrics: cannot serve HTTP on socket %d", fds[i]);
			/* evhttp owns (and closes) the ones it took; close the rest. */
			for (unsigned j = i; j < count; j++)
				close(fds[j]);
			metrics_http_free(mh);
			return NULL;
		}
		mh->listeners[mh->listener_count++] = evhttp_bound_socket_get_listener(bound);
	}
	return mh;
}

void
metrics_http_free(struct metrics_http *mh)
{
	if (mh == NULL)
		return;
	event_free(mh->settle);
	/* Closes the listening sockets and every connection (their close callbacks run). */
	evhttp_free(mh->http);
	/* Any not yet settled: evhttp has freed them, but for the reference held here. */
	while (mh->conns != NULL)
		metrics_http_forget(mh->conns);
	buf_free(&mh->text);
	free(mh->listeners);
	free(mh);
}
