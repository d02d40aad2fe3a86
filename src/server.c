/*
 * server: the listening sockets, the worker threads and the hand-off
 * between them.  The main thread accepts (and enforces max_connections);
 * each accepted socket goes down a pipe to one worker, round robin, and
 * lives in that worker's event loop until it closes.  No lock is taken
 * on the request path.  The same pipe carries new limits after a reload
 * and the order to drain and stop.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "log.h"
#include "server.h"
#include "service.h"

#define SERVER_MAX_LISTENERS	(2 * CONF_MAX_LISTEN)
#define SERVER_BACKLOG		1024
#define SERVER_ACCEPTS_PER_TURN	64
#define SERVER_NAME_LEN		(CONF_LISTEN_LEN + 16)
#define SERVER_STATUS_SECONDS	5

enum server_order_kind {
	SERVER_ORDER_CONN,	/* serve fd */
	SERVER_ORDER_LIMITS,	/* apply limits */
	SERVER_ORDER_STOP,	/* drain, then stop within grace_ms */
};

/* One order to a worker; small enough to cross a pipe in one atomic write. */
struct server_order {
	enum server_order_kind	kind;
	int			fd;
	socklen_t		addrlen;
	struct sockaddr_storage	addr;
	struct conn_limits	limits;
	uint64_t		grace_ms;
};
_Static_assert(sizeof(struct server_order) <= PIPE_BUF, "orders must be atomic");

struct server_worker {
	struct server	*server;
	unsigned	 index;
	pthread_t	 thread;
	bool		 started;
	struct event_base *base;
	struct event	*order_ev;
	struct event	*tick_ev;
	struct event	*grace_ev;
	int		 pipe_read;
	int		 pipe_write;
	bool		 stopping;
	struct conn_env	 env;
	atomic_uint	 beats;		/* the loop's heartbeat, for the watchdog */
	atomic_ullong	 requests;	/* env.requests, published each tick */
	unsigned	 beats_seen;	/* main thread: beats at the last watchdog check */
};

struct server_listener {
	int			fd;
	struct event		*ev;
	bool			from_systemd;
	struct conf_listen	origin;		/* the listen entry it serves */
	char			name[SERVER_NAME_LEN];
};

struct server {
	struct conf		 conf;		/* the configuration in force */
	server_reload_fn	 reload;
	void			*reload_arg;
	struct event_base	*base;
	struct server_listener	 listeners[SERVER_MAX_LISTENERS];
	unsigned		 listener_count;
	bool			 socket_activated;
	struct server_worker	*workers;
	unsigned		 worker_count;
	unsigned		 next_worker;
	atomic_uint		 connections;
	struct event		*signal_evs[3];
	struct event		*resume_ev;	/* re-enables accepting after a pause */
	struct server_order	 pending;	/* accepted, no worker could take it yet */
	bool			 has_pending;
	struct event		*watchdog_ev;
	struct event		*status_ev;
	int			 exit_status;
};

static struct log_ratelimit server_accept_rl;
static struct log_ratelimit server_full_rl;

static int
server_set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

static void
server_conn_limits(const struct conf *conf, struct conn_limits *limits)
{
	memset(limits, 0, sizeof *limits);
	limits->dispatch.max_message_size = conf->max_message_size;
	limits->dispatch.max_nesting_depth = conf->max_nesting_depth;
	limits->max_output_buffer = conf->max_output_buffer;
	limits->idle_timeout_ms = conf->idle_timeout_ms;
	limits->message_timeout_ms = conf->message_timeout_ms;
}

static bool
server_same_listen(const struct conf_listen *a, const struct conf_listen *b)
{
	return strcmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

/* --- listening ------------------------------------------------------------ */

static void server_on_accept(evutil_socket_t, short, void *);

static struct server_listener *
server_add_listener(struct server *s, int fd, const struct conf_listen *origin)
{
	struct server_listener	*l = &s->listeners[s->listener_count++];
	struct sockaddr_storage	 bound;
	socklen_t		 boundlen = sizeof bound;

	memset(l, 0, sizeof *l);
	l->fd = fd;
	if (origin != NULL)
		l->origin = *origin;
	if (getsockname(fd, (struct sockaddr *)&bound, &boundlen) == 0)
		conn_format_address((struct sockaddr *)&bound, l->name, sizeof l->name);
	else
		(void)snprintf(l->name, sizeof l->name, "fd %d", fd);
	return l;
}

/* Start accepting on l once the main loop exists. */
static int
server_watch_listener(struct server *s, struct server_listener *l)
{
	l->ev = event_new(s->base, l->fd, EV_READ | EV_PERSIST, server_on_accept, s);
	if (l->ev == NULL || event_add(l->ev, NULL) != 0) {
		log_error("cannot watch %s", l->name);
		return -1;
	}
	log_notice("listening on %s%s", l->name, l->from_systemd ? " (from systemd)" : "");
	return 0;
}

static void
server_close_listener(struct server *s, unsigned i)
{
	struct server_listener *l = &s->listeners[i];

	if (l->ev != NULL)
		event_free(l->ev);
	close(l->fd);
	s->listeners[i] = s->listeners[--s->listener_count];
}

/* Bind and listen on one resolved address; -1 with a logged reason. */
static int
server_listen_one(struct server *s, const struct addrinfo *ai, const struct conf_listen *cl,
    const char *text)
{
	char	addr[SERVER_NAME_LEN];
	int	fd, one = 1;

	if (s->listener_count == SERVER_MAX_LISTENERS) {
		log_error("cannot listen on %s: too many listening sockets", text);
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		/* "*" on a host without IPv6: the IPv4 socket is enough. */
		if (cl->host[0] == '\0' && ai->ai_family == AF_INET6 &&
		    errno == EAFNOSUPPORT) {
			log_notice("IPv6 is not available; %s listens on IPv4 only", text);
			return 0;
		}
		log_error("cannot listen on %s: socket: %s", text, strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    listen(fd, SERVER_BACKLOG) != 0 || server_set_nonblocking(fd) != 0) {
		conn_format_address(ai->ai_addr, addr, sizeof addr);
		log_error("cannot listen on %s (%s): %s", text, addr, strerror(errno));
		close(fd);
		return -1;
	}
	server_add_listener(s, fd, cl);
	return 0;
}

/* Open every address cl resolves to; on failure none of them stays open. */
static int
server_listen(struct server *s, const struct conf_listen *cl)
{
	struct addrinfo	 hints, *res, *ai;
	char		 text[SERVER_NAME_LEN];
	unsigned	 first = s->listener_count;
	int		 rc;

	conf_format_listen(cl, text, sizeof text);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(cl->host[0] ? cl->host : NULL, cl->port, &hints, &res)) != 0) {
		log_error("cannot listen on %s: %s", text, gai_strerror(rc));
		return -1;
	}
	rc = 0;
	for (ai = res; ai != NULL && rc == 0; ai = ai->ai_next)
		rc = server_listen_one(s, ai, cl, text);
	freeaddrinfo(res);
	while (rc != 0 && s->listener_count > first)
		server_close_listener(s, s->listener_count - 1);
	return rc;
}

/* After a reload: open the new listen addresses, close the ones gone. */
static void
server_update_listeners(struct server *s, const struct conf *next)
{
	for (unsigned i = 0; i < next->listen_count; i++) {
		unsigned j, first = s->listener_count;

		for (j = 0; j < s->listener_count; j++)
			if (server_same_listen(&s->listeners[j].origin, &next->listen[i]))
				break;
		if (j < s->listener_count)
			continue;
		if (server_listen(s, &next->listen[i]) != 0)
			continue;
		for (j = first; j < s->listener_count; j++)
			(void)server_watch_listener(s, &s->listeners[j]);
	}
	for (unsigned i = s->listener_count; i-- > 0;) {
		unsigned j;

		for (j = 0; j < next->listen_count; j++)
			if (server_same_listen(&s->listeners[i].origin, &next->listen[j]))
				break;
		if (j < next->listen_count)
			continue;
		char name[SERVER_NAME_LEN];

		/* Closed before it is logged: whoever reads the log finds the port shut. */
		memcpy(name, s->listeners[i].name, sizeof name);
		server_close_listener(s, i);
		log_notice("no longer listening on %s", name);
	}
}

/* --- workers ------------------------------------------------------------- */

static void
server_worker_conn_closed(void *arg)
{
	struct server_worker *w = arg;

	atomic_fetch_sub(&w->server->connections, 1);
	if (w->stopping && w->env.count == 0)
		event_base_loopbreak(w->base);
}

static void
server_worker_on_grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct server_worker *w = arg;

	(void)fd;
	(void)what;
	log_warning("worker %u: %u connection%s still busy after shutdown_timeout, closing",
	    w->index, w->env.count, w->env.count == 1 ? "" : "s");
	conn_close_all(&w->env);
	event_base_loopbreak(w->base);
}

static void
server_worker_stop(struct server_worker *w, uint64_t grace_ms)
{
	struct timeval grace = {
		.tv_sec = (time_t)(grace_ms / 1000),
		.tv_usec = (suseconds_t)(grace_ms % 1000 * 1000),
	};

	w->stopping = true;
	event_del(w->order_ev);
	conn_drain_all(&w->env);
	if (w->env.count == 0) {
		event_base_loopbreak(w->base);
		return;
	}
	w->grace_ev = evtimer_new(w->base, server_worker_on_grace_over, w);
	if (w->grace_ev == NULL || evtimer_add(w->grace_ev, &grace) != 0)
		server_worker_on_grace_over(-1, 0, w);
}

static void	server_worker_take_orders(struct server_worker *,
		    const struct server_order *, size_t);

/* Worker side: take orders (sockets, limits, stop) off the pipe. */
static void
server_worker_on_order(evutil_socket_t fd, short what, void *arg)
{
	struct server_worker	*w = arg;
	struct server_order	 batch[8];
	ssize_t			 n;

	(void)what;
	/* Drain the pipe (within reason), so a burst of connections never fills it. */
	for (int round = 0; round < 64; round++) {
		n = read(fd, batch, sizeof batch);
		if (n <= 0)
			return;
		server_worker_take_orders(w, batch, (size_t)n / sizeof batch[0]);
	}
}

static void
server_worker_take_orders(struct server_worker *w, const struct server_order *batch,
    size_t count)
{
	for (size_t i = 0; i < count; i++) {
		switch (batch[i].kind) {
		case SERVER_ORDER_CONN:
			if (w->stopping) {
				close(batch[i].fd);
				atomic_fetch_sub(&w->server->connections, 1);
				break;
			}
			conn_new(&w->env, batch[i].fd, (struct sockaddr *)&batch[i].addr,
			    batch[i].addrlen);
			break;
		case SERVER_ORDER_LIMITS:
			conn_env_set_limits(&w->env, &batch[i].limits);
			break;
		case SERVER_ORDER_STOP:
			server_worker_stop(w, batch[i].grace_ms);
			break;
		}
	}
}

static void
server_worker_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server_worker *w = arg;

	(void)fd;
	(void)what;
	atomic_fetch_add_explicit(&w->beats, 1, memory_order_relaxed);
	atomic_store_explicit(&w->requests, w->env.requests, memory_order_relaxed);
}

static void *
server_worker_main(void *arg)
{
	struct server_worker	*w = arg;
	sigset_t		 all;

	/* Signals are the main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	event_base_dispatch(w->base);
	conn_close_all(&w->env);
	return NULL;
}

/* The order must arrive (limits, stop): retry briefly if the worker is behind. */
static int
server_send_order(struct server_worker *w, const struct server_order *order, bool must)
{
	for (int tries = 0; tries < (must ? 2000 : 1); tries++) {
		if (write(w->pipe_write, order, sizeof *order) == (ssize_t)sizeof *order)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			break;
		usleep(1000);
	}
	return -1;
}

static int
server_worker_init(struct server *s, struct server_worker *w, unsigned index,
    const struct timeval *tick)
{
	struct conn_limits	limits;
	int			fds[2];

	w->server = s;
	w->index = index;
	w->pipe_read = w->pipe_write = -1;
	atomic_init(&w->beats, 0);
	atomic_init(&w->requests, 0);
	if ((w->base = event_base_new()) == NULL) {
		log_error("worker %u: cannot create an event loop", index);
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
		log_error("worker %u: pipe: %s", index, strerror(errno));
		return -1;
	}
	w->pipe_read = fds[0];
	w->pipe_write = fds[1];
	w->order_ev = event_new(w->base, w->pipe_read, EV_READ | EV_PERSIST,
	    server_worker_on_order, w);
	w->tick_ev = event_new(w->base, -1, EV_PERSIST, server_worker_on_tick, w);
	if (w->order_ev == NULL || event_add(w->order_ev, NULL) != 0 ||
	    w->tick_ev == NULL || event_add(w->tick_ev, tick) != 0) {
		log_error("worker %u: cannot set up its event loop", index);
		return -1;
	}
	server_conn_limits(&s->conf, &limits);
	if (conn_env_init(&w->env, w->base, &limits) != 0) {
		log_error("worker %u: out of memory", index);
		return -1;
	}
	w->env.on_close = server_worker_conn_closed;
	w->env.on_close_arg = w;
	return 0;
}

static void
server_worker_free(struct server_worker *w)
{
	if (w->order_ev != NULL)
		event_free(w->order_ev);
	if (w->tick_ev != NULL)
		event_free(w->tick_ev);
	if (w->grace_ev != NULL)
		event_free(w->grace_ev);
	if (w->pipe_read >= 0)
		close(w->pipe_read);
	if (w->pipe_write >= 0)
		close(w->pipe_write);
	conn_env_free(&w->env);
	if (w->base != NULL)
		event_base_free(w->base);
}

/* --- the main loop -------------------------------------------------------- */

static void
server_pause_accepting(struct server *s, suseconds_t usec)
{
	struct timeval pause = { 0, usec };

	for (unsigned i = 0; i < s->listener_count; i++)
		event_del(s->listeners[i].ev);
	evtimer_add(s->resume_ev, &pause);
}

/* Give an accepted socket to the next worker whose pipe has room. */
static bool
server_hand_off(struct server *s, const struct server_order *order)
{
	for (unsigned tries = 0; tries < s->worker_count; tries++) {
		struct server_worker *w = &s->workers[s->next_worker];

		s->next_worker = (s->next_worker + 1) % s->worker_count;
		if (server_send_order(w, order, false) == 0)
			return true;
	}
	return false;
}

static void
server_resume_accepting(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	if (s->has_pending) {
		if (!server_hand_off(s, &s->pending)) {
			server_pause_accepting(s, 1000);
			return;
		}
		s->has_pending = false;
	}
	for (unsigned i = 0; i < s->listener_count; i++)
		event_add(s->listeners[i].ev, NULL);
}

static void
server_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct server		*s = arg;
	struct server_order	 order;
	char			 peer[SERVER_NAME_LEN];

	(void)what;
	for (int i = 0; i < SERVER_ACCEPTS_PER_TURN; i++) {
		memset(&order, 0, sizeof order);
		order.kind = SERVER_ORDER_CONN;
		order.addrlen = sizeof order.addr;
		order.fd = accept4(lfd, (struct sockaddr *)&order.addr, &order.addrlen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (order.fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			log_limited(&server_accept_rl, LOG_LEVEL_ERROR, "accept: %s",
			    strerror(errno));
			/* Out of descriptors: back off instead of spinning on the backlog. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				server_pause_accepting(s, 100000);
			return;
		}
		if (atomic_load(&s->connections) >= s->conf.max_connections) {
			conn_format_address((struct sockaddr *)&order.addr, peer, sizeof peer);
			log_limited(&server_full_rl, LOG_LEVEL_WARNING,
			    "%s: refused: max_connections (%u) reached", peer,
			    s->conf.max_connections);
			close(order.fd);
			continue;
		}
		atomic_fetch_add(&s->connections, 1);
		if (!server_hand_off(s, &order)) {
			/*
			 * Every worker's pipe is full (a burst of connections):
			 * hold this one and leave the rest in the kernel's
			 * backlog until a worker catches up.
			 */
			s->pending = order;
			s->has_pending = true;
			server_pause_accepting(s, 1000);
			return;
		}
	}
}

static void
server_report_status(struct server *s, const char *state)
{
	char			 where[256] = "";
	size_t			 len = 0;
	unsigned long long	 requests = 0;

	for (unsigned i = 0; i < s->listener_count && len < sizeof where - 1; i++) {
		int n = snprintf(where + len, sizeof where - len, "%s%s", i ? ", " : "",
		    s->listeners[i].name);

		if (n > 0)
			len += (size_t)n;
	}
	for (unsigned i = 0; i < s->worker_count; i++)
		requests += atomic_load_explicit(&s->workers[i].requests, memory_order_relaxed);
	service_notify_status("%s on %s; %u connections; %llu requests served", state,
	    where[0] ? where : "nothing", atomic_load(&s->connections), requests);
}

static void
server_on_status(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_report_status(arg, "Serving");
}

/* WATCHDOG=1 only while every worker's loop is still turning. */
static void
server_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	struct server	*s = arg;
	bool		 alive = true;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < s->worker_count; i++) {
		unsigned beats = atomic_load_explicit(&s->workers[i].beats, memory_order_relaxed);

		if (beats == s->workers[i].beats_seen) {
			log_warning("worker %u has not run its loop since the last watchdog "
			    "check", i);
			alive = false;
		}
		s->workers[i].beats_seen = beats;
	}
	if (alive)
		service_notify_watchdog();
}

static void
server_log_restart_key(const char *key, void *arg)
{
	(void)arg;
	log_warning("%s: the change takes effect after a restart", key);
}

static void
server_apply(struct server *s, struct conf *next)
{
	struct server_order order;

	conf_keep_restart_keys(&s->conf, next, server_log_restart_key, NULL);
	log_set_level((enum log_level)next->log_level);
	log_set_target((enum log_target)next->log_target);
	if (!s->socket_activated)
		server_update_listeners(s, next);
	memset(&order, 0, sizeof order);
	order.kind = SERVER_ORDER_LIMITS;
	server_conn_limits(next, &order.limits);
	for (unsigned i = 0; i < s->worker_count; i++)
		if (server_send_order(&s->workers[i], &order, true) != 0)
			log_error("worker %u did not take the new limits", i);
	s->conf = *next;
}

static void
server_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server	*s = arg;
	struct conf	 next;

	(void)what;
	if (sig == SIGHUP) {
		service_notify_reloading();
		log_notice("received SIGHUP, reloading the configuration");
		next = s->conf;
		if (s->reload == NULL || s->reload(s->reload_arg, &next) != 0) {
			log_error("reload failed: the configuration in force stays");
		} else {
			server_apply(s, &next);
			log_notice("configuration reloaded");
		}
		service_notify_ready();
		server_report_status(s, "Serving");
		return;
	}
	log_notice("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	service_notify_stopping();
	s->exit_status = 0;
	event_base_loopbreak(s->base);
}

struct server *
server_open(const struct conf *conf)
{
	struct server	*s;
	int		 passed;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		log_error("out of memory");
		return NULL;
	}
	s->conf = *conf;
	s->exit_status = 1;
	atomic_init(&s->connections, 0);
	if ((passed = service_listen_fds()) > 0) {
		/* Socket activation: systemd's sockets replace the listen lines. */
		s->socket_activated = true;
		for (int fd = 3; fd < 3 + passed && s->listener_count < SERVER_MAX_LISTENERS; fd++) {
			if (server_set_nonblocking(fd) != 0) {
				log_error("socket %d from systemd: %s", fd, strerror(errno));
				server_free(s);
				return NULL;
			}
			server_add_listener(s, fd, NULL)->from_systemd = true;
		}
		return s;
	}
	for (unsigned i = 0; i < conf->listen_count; i++) {
		if (server_listen(s, &conf->listen[i]) != 0) {
			server_free(s);
			return NULL;
		}
	}
	return s;
}

void
server_set_reload(struct server *s, server_reload_fn reload, void *arg)
{
	s->reload = reload;
	s->reload_arg = arg;
}

int
server_run(struct server *s)
{
	static const int	 signals[3] = { SIGTERM, SIGINT, SIGHUP };
	struct timeval		 tick = { 1, 0 }, status = { SERVER_STATUS_SECONDS, 0 };
	uint64_t		 watchdog_usec = service_watchdog_interval_usec();

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		log_warning("cannot ignore SIGPIPE: %s", strerror(errno));
	if ((s->base = event_base_new()) == NULL) {
		log_error("cannot create the event loop");
		return 1;
	}
	if (watchdog_usec > 0 && watchdog_usec < 2000000) {
		/* Workers beat at least twice per watchdog check. */
		tick.tv_sec = 0;
		tick.tv_usec = (suseconds_t)(watchdog_usec / 2);
	}
	if ((s->workers = calloc(s->conf.workers, sizeof *s->workers)) == NULL) {
		log_error("out of memory");
		return 1;
	}
	for (unsigned i = 0; i < s->conf.workers; i++) {
		/* Counted first: server_free must clean up a half-made worker too. */
		s->worker_count++;
		if (server_worker_init(s, &s->workers[i], i, &tick) != 0)
			goto stop;
		if (pthread_create(&s->workers[i].thread, NULL, server_worker_main,
		    &s->workers[i]) != 0) {
			log_error("cannot start worker thread %u", i);
			goto stop;
		}
		s->workers[i].started = true;
	}
	for (unsigned i = 0; i < 3; i++) {
		s->signal_evs[i] = evsignal_new(s->base, signals[i], server_on_signal, s);
		if (s->signal_evs[i] == NULL || event_add(s->signal_evs[i], NULL) != 0) {
			log_error("cannot watch signals");
			goto stop;
		}
	}
	s->resume_ev = evtimer_new(s->base, server_resume_accepting, s);
	s->status_ev = event_new(s->base, -1, EV_PERSIST, server_on_status, s);
	if (s->resume_ev == NULL || s->status_ev == NULL || event_add(s->status_ev, &status) != 0) {
		log_error("cannot set up the main loop");
		goto stop;
	}
	if (watchdog_usec > 0) {
		struct timeval every = {
			.tv_sec = (time_t)(watchdog_usec / 1000000),
			.tv_usec = (suseconds_t)(watchdog_usec % 1000000),
		};

		s->watchdog_ev = event_new(s->base, -1, EV_PERSIST, server_on_watchdog, s);
		if (s->watchdog_ev == NULL || event_add(s->watchdog_ev, &every) != 0) {
			log_error("cannot set up the watchdog");
			goto stop;
		}
	}
	for (unsigned i = 0; i < s->listener_count; i++)
		if (server_watch_listener(s, &s->listeners[i]) != 0)
			goto stop;
	log_notice("calcd %s serving with %u worker%s", PACKAGE_VERSION, s->worker_count,
	    s->worker_count == 1 ? "" : "s");
	service_notify_ready();
	server_report_status(s, "Serving");
	event_base_dispatch(s->base);

stop:
	/* Stop taking connections; every worker answers what it has, then stops. */
	server_report_status(s, "Stopping");
	if (s->has_pending) {
		close(s->pending.fd);
		atomic_fetch_sub(&s->connections, 1);
		s->has_pending = false;
	}
	while (s->listener_count > 0)
		server_close_listener(s, s->listener_count - 1);
	for (unsigned i = 0; i < s->worker_count; i++) {
		struct server_order	 order = { .kind = SERVER_ORDER_STOP };
		struct server_worker	*w = &s->workers[i];

		if (!w->started)
			continue;
		order.grace_ms = s->conf.shutdown_timeout_ms;
		if (server_send_order(w, &order, true) != 0)
			log_error("worker %u did not take the stop order", i);
	}
	for (unsigned i = 0; i < s->worker_count; i++)
		if (s->workers[i].started)
			pthread_join(s->workers[i].thread, NULL);
	log_notice("stopped");
	return s->exit_status;
}

void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	while (s->listener_count > 0)
		server_close_listener(s, s->listener_count - 1);
	for (unsigned i = 0; i < s->worker_count && s->workers != NULL; i++)
		server_worker_free(&s->workers[i]);
	free(s->workers);
	for (unsigned i = 0; i < 3; i++)
		if (s->signal_evs[i] != NULL)
			event_free(s->signal_evs[i]);
	if (s->resume_ev != NULL)
		event_free(s->resume_ev);
	if (s->status_ev != NULL)
		event_free(s->status_ev);
	if (s->watchdog_ev != NULL)
		event_free(s->watchdog_ev);
	if (s->base != NULL)
		event_base_free(s->base);
	free(s);
}
