/*
 * server: the listening sockets, the worker threads and the hand-off
 * between them.  The main thread accepts (and enforces max_connections);
 * each accepted socket goes down a pipe to one worker, round robin, and
 * lives in that worker's event loop until it closes.  No lock is taken
 * on the request path.
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

#define SERVER_MAX_LISTENERS	(2 * CONF_MAX_LISTEN)
#define SERVER_BACKLOG		1024
#define SERVER_SCRATCH_LEN	(64 * 1024)
#define SERVER_ACCEPTS_PER_TURN	64

/* One accepted socket on its way to a worker; small enough to cross a pipe atomically. */
struct server_handoff {
	int			fd;	/* -1: stop */
	socklen_t		addrlen;
	struct sockaddr_storage	addr;
};
_Static_assert(sizeof(struct server_handoff) <= PIPE_BUF, "hand-off must be atomic");

struct server_worker {
	struct server	*server;
	unsigned	 index;
	pthread_t	 thread;
	struct event_base *base;
	struct event	*handoff_ev;
	int		 pipe_read;
	int		 pipe_write;
	struct conn_env	 env;
};

struct server_listener {
	int		 fd;
	struct event	*ev;
	char		 name[CONF_LISTEN_LEN + 16];
};

struct server {
	const struct conf	*conf;
	struct event_base	*base;
	struct server_listener	 listeners[SERVER_MAX_LISTENERS];
	unsigned		 listener_count;
	struct server_worker	*workers;
	unsigned		 worker_count;
	unsigned		 next_worker;
	atomic_uint		 connections;
	struct event		*signal_evs[2];
	struct event		*resume_ev;	/* re-enables accepting after EMFILE */
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

/* Bind and listen on one resolved address; -1 with a logged reason. */
static int
server_listen_one(struct server *s, const struct addrinfo *ai, const char *text, bool wildcard)
{
	struct server_listener	*l;
	struct sockaddr_storage	 bound;
	socklen_t		 boundlen = sizeof bound;
	int			 fd, one = 1;

	if (s->listener_count == SERVER_MAX_LISTENERS) {
		log_error("cannot listen on %s: too many listening sockets", text);
		return -1;
	}
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0) {
		/* "*" on a host without IPv6: the IPv4 socket is enough. */
		if (wildcard && ai->ai_family == AF_INET6 && errno == EAFNOSUPPORT) {
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
		char addr[CONF_LISTEN_LEN + 16];

		conn_format_address(ai->ai_addr, addr, sizeof addr);
		log_error("cannot listen on %s (%s): %s", text, addr, strerror(errno));
		close(fd);
		return -1;
	}
	l = &s->listeners[s->listener_count++];
	l->fd = fd;
	l->ev = NULL;
	if (getsockname(fd, (struct sockaddr *)&bound, &boundlen) == 0)
		conn_format_address((struct sockaddr *)&bound, l->name, sizeof l->name);
	else
		snprintf(l->name, sizeof l->name, "%s", text);
	return 0;
}

static int
server_listen(struct server *s, const struct conf_listen *cl)
{
	struct addrinfo	 hints, *res, *ai;
	char		 text[CONF_LISTEN_LEN + 16];
	bool		 wildcard = cl->host[0] == '\0';
	int		 rc;

	conf_format_listen(cl, text, sizeof text);
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(wildcard ? NULL : cl->host, cl->port, &hints, &res)) != 0) {
		log_error("cannot listen on %s: %s", text, gai_strerror(rc));
		return -1;
	}
	rc = 0;
	for (ai = res; ai != NULL && rc == 0; ai = ai->ai_next)
		rc = server_listen_one(s, ai, text, wildcard);
	freeaddrinfo(res);
	return rc;
}

static void
server_conn_closed(void *arg)
{
	struct server *s = arg;

	atomic_fetch_sub(&s->connections, 1);
}

/* Worker side: take accepted sockets (or the stop order) off the pipe. */
static void
server_worker_on_handoff(evutil_socket_t fd, short what, void *arg)
{
	struct server_worker	*w = arg;
	struct server_handoff	 batch[16];
	ssize_t			 n;

	(void)what;
	n = read(fd, batch, sizeof batch);
	if (n <= 0)
		return;
	for (size_t i = 0; i < (size_t)n / sizeof batch[0]; i++) {
		if (batch[i].fd < 0) {
			conn_close_all(&w->env);
			event_base_loopbreak(w->base);
			return;
		}
		conn_new(&w->env, batch[i].fd, (struct sockaddr *)&batch[i].addr,
		    batch[i].addrlen);
	}
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

static int
server_worker_init(struct server *s, struct server_worker *w, unsigned index)
{
	const struct conf	*conf = s->conf;
	int			 fds[2];
	struct timeval		 idle;

	w->server = s;
	w->index = index;
	w->pipe_read = w->pipe_write = -1;
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
	w->handoff_ev = event_new(w->base, w->pipe_read, EV_READ | EV_PERSIST,
	    server_worker_on_handoff, w);
	if (w->handoff_ev == NULL || event_add(w->handoff_ev, NULL) != 0) {
		log_error("worker %u: cannot watch its hand-off pipe", index);
		return -1;
	}
	memset(&w->env, 0, sizeof w->env);
	w->env.base = w->base;
	w->env.scratch_len = SERVER_SCRATCH_LEN;
	if ((w->env.scratch = malloc(SERVER_SCRATCH_LEN)) == NULL) {
		log_error("worker %u: out of memory", index);
		return -1;
	}
	w->env.limits.max_message_size = conf->max_message_size;
	w->env.limits.max_nesting_depth = conf->max_nesting_depth;
	w->env.max_output_buffer = conf->max_output_buffer;
	buf_init(&w->env.reply, conf->max_output_buffer + conf->max_message_size + 65536);
	if (conf->idle_timeout_ms > 0) {
		idle.tv_sec = (time_t)(conf->idle_timeout_ms / 1000);
		idle.tv_usec = (suseconds_t)(conf->idle_timeout_ms % 1000 * 1000);
		/* One timeout for every connection: libevent keeps them in a queue, O(1). */
		w->env.idle_timeout = event_base_init_common_timeout(w->base, &idle);
	}
	w->env.on_close = server_conn_closed;
	w->env.on_close_arg = s;
	return 0;
}

static void
server_worker_free(struct server_worker *w)
{
	if (w->handoff_ev != NULL)
		event_free(w->handoff_ev);
	if (w->pipe_read >= 0)
		close(w->pipe_read);
	if (w->pipe_write >= 0)
		close(w->pipe_write);
	buf_free(&w->env.reply);
	free(w->env.scratch);
	if (w->base != NULL)
		event_base_free(w->base);
}

static void
server_resume_accepting(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < s->listener_count; i++)
		event_add(s->listeners[i].ev, NULL);
}

static void
server_pause_accepting(struct server *s)
{
	struct timeval pause = { 0, 100 * 1000 };

	for (unsigned i = 0; i < s->listener_count; i++)
		event_del(s->listeners[i].ev);
	evtimer_add(s->resume_ev, &pause);
}

static void
server_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct server		*s = arg;
	struct server_handoff	 h;
	char			 peer[CONF_LISTEN_LEN + 16];

	(void)what;
	for (int i = 0; i < SERVER_ACCEPTS_PER_TURN; i++) {
		struct server_worker *w;

		memset(&h, 0, sizeof h);
		h.addrlen = sizeof h.addr;
		h.fd = accept4(lfd, (struct sockaddr *)&h.addr, &h.addrlen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (h.fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			log_limited(&server_accept_rl, LOG_LEVEL_ERROR, "accept: %s",
			    strerror(errno));
			/* Out of descriptors: back off instead of spinning on the backlog. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
				server_pause_accepting(s);
			return;
		}
		if (atomic_load(&s->connections) >= s->conf->max_connections) {
			conn_format_address((struct sockaddr *)&h.addr, peer, sizeof peer);
			log_limited(&server_full_rl, LOG_LEVEL_WARNING,
			    "%s: refused: max_connections (%u) reached", peer,
			    s->conf->max_connections);
			close(h.fd);
			continue;
		}
		w = &s->workers[s->next_worker];
		s->next_worker = (s->next_worker + 1) % s->worker_count;
		atomic_fetch_add(&s->connections, 1);
		if (write(w->pipe_write, &h, sizeof h) != (ssize_t)sizeof h) {
			conn_format_address((struct sockaddr *)&h.addr, peer, sizeof peer);
			log_limited(&server_accept_rl, LOG_LEVEL_ERROR,
			    "%s: refused: worker %u is not taking connections", peer, w->index);
			atomic_fetch_sub(&s->connections, 1);
			close(h.fd);
		}
	}
}

static void
server_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	log_notice("received %s, shutting down", strsignal((int)sig));
	s->exit_status = 0;
	event_base_loopbreak(s->base);
}

struct server *
server_open(const struct conf *conf)
{
	struct server *s;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		log_error("out of memory");
		return NULL;
	}
	s->conf = conf;
	atomic_init(&s->connections, 0);
	for (unsigned i = 0; i < conf->listen_count; i++) {
		if (server_listen(s, &conf->listen[i]) != 0) {
			server_free(s);
			return NULL;
		}
	}
	return s;
}

int
server_run(struct server *s)
{
	const struct conf	*conf = s->conf;
	static const int	 signals[2] = { SIGTERM, SIGINT };
	unsigned		 started = 0;

	signal(SIGPIPE, SIG_IGN);
	if ((s->base = event_base_new()) == NULL) {
		log_error("cannot create the event loop");
		return 1;
	}
	if ((s->workers = calloc(conf->workers, sizeof *s->workers)) == NULL) {
		log_error("out of memory");
		return 1;
	}
	s->exit_status = 1;
	for (unsigned i = 0; i < conf->workers; i++) {
		/* Counted first: server_free must clean up a half-made worker too. */
		s->worker_count++;
		if (server_worker_init(s, &s->workers[i], i) != 0)
			goto stop;
		if (pthread_create(&s->workers[i].thread, NULL, server_worker_main,
		    &s->workers[i]) != 0) {
			log_error("cannot start worker thread %u", i);
			goto stop;
		}
		started++;
	}
	for (unsigned i = 0; i < 2; i++) {
		s->signal_evs[i] = evsignal_new(s->base, signals[i], server_on_signal, s);
		if (s->signal_evs[i] == NULL || event_add(s->signal_evs[i], NULL) != 0) {
			log_error("cannot watch signals");
			goto stop;
		}
	}
	s->resume_ev = evtimer_new(s->base, server_resume_accepting, s);
	for (unsigned i = 0; i < s->listener_count; i++) {
		struct server_listener *l = &s->listeners[i];

		l->ev = event_new(s->base, l->fd, EV_READ | EV_PERSIST, server_on_accept, s);
		if (l->ev == NULL || event_add(l->ev, NULL) != 0) {
			log_error("cannot watch %s", l->name);
			goto stop;
		}
		log_notice("listening on %s", l->name);
	}
	log_notice("calcd %s serving with %u worker%s", PACKAGE_VERSION, s->worker_count,
	    s->worker_count == 1 ? "" : "s");
	event_base_dispatch(s->base);

stop:
	/* Stop taking connections, then have every worker close its own. */
	for (unsigned i = 0; i < s->listener_count; i++) {
		if (s->listeners[i].ev != NULL)
			event_del(s->listeners[i].ev);
	}
	for (unsigned i = 0; i < started; i++) {
		struct server_handoff stop = { .fd = -1 };
		struct server_worker *w = &s->workers[i];

		/* The pipe is non-blocking: retry briefly if a worker is behind. */
		for (int tries = 0; tries < 1000; tries++) {
			if (write(w->pipe_write, &stop, sizeof stop) == (ssize_t)sizeof stop)
				break;
			usleep(1000);
		}
		pthread_join(w->thread, NULL);
	}
	log_notice("stopped");
	return s->exit_status;
}

void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->listener_count; i++) {
		if (s->listeners[i].ev != NULL)
			event_free(s->listeners[i].ev);
		close(s->listeners[i].fd);
	}
	for (unsigned i = 0; i < s->worker_count && s->workers != NULL; i++)
		server_worker_free(&s->workers[i]);
	free(s->workers);
	for (unsigned i = 0; i < 2; i++)
		if (s->signal_evs[i] != NULL)
			event_free(s->signal_evs[i]);
	if (s->resume_ev != NULL)
		event_free(s->resume_ev);
	if (s->base != NULL)
		event_base_free(s->base);
	free(s);
}
