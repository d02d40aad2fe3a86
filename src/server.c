/*
 * server: the main thread.  It runs the main loop, accepts on the
 * listeners and hands each connection to a worker, round robin; it
 * reloads the configuration on SIGHUP, drains and stops on SIGTERM/SIGINT,
 * and keeps systemd informed: readiness, status, and the watchdog while
 * every worker's loop still turns.
 *
 * A full calcd still admits: at max_connections, or when accept fails for
 * want of a descriptor, the new connection goes to its worker marked
 * "shed", and the worker closes one of its idle or partial connections to
 * make room (shed.c says which).  For the descriptor case calcd keeps one
 * in reserve (/dev/null), gives it up to accept, and takes it back once a
 * shed has freed one; without it, accepting pauses on a timer, never
 * spinning.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conn.h"
#include "dispatch.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"
#include "server.h"
#include "service.h"
#include "shed.h"
#include "worker.h"

#define SERVER_ACCEPTS_PER_TURN	64
#define SERVER_BACKLOG_ROUNDS	16	/* at a stop: 16 turns of accepts per listener */
#define SERVER_NAME_LEN		(CONF_LISTEN_LEN + 16)
#define SERVER_STATUS_SECONDS	5
#define SERVER_SIGNALS		3
#define SERVER_METRICS_SOCKETS	4
#define SERVER_MAX_BLOCKS	257	/* every worker's and the main thread's */
#define SERVER_SHEDS_IN_FLIGHT	32	/* admitted by a shed, not yet made room for */
#define SERVER_SHED_WAIT_USEC	1000	/* then accepting waits this long */
#define SERVER_FD_WAIT_MIN_USEC	1000	/* out of descriptors, no reserve: first wait */
#define SERVER_FD_WAIT_MAX_USEC	64000	/* ... doubling up to this */
/* Descriptors besides connections (see server_descriptors_reserved). */
#define SERVER_STDIO_FDS	3
#define SERVER_LISTENER_FDS	(4 * CONF_MAX_LISTEN)	/* "*" is 2, twice in a reload */
#define SERVER_LOOP_FDS		3	/* epoll, libevent's signal pipe */
#define SERVER_LOG_FDS		1	/* syslog's socket */
#define SERVER_RESERVE_FDS	1
#define SERVER_PENDING_FDS	1	/* accepted, every worker's pipe full */
#define SERVER_MARGIN_FDS	16	/* a reload: the file, name lookups; sd_notify */
/* metrics_listen: its sockets, twice in a reload, and a few scrapes at once */
#define SERVER_METRICS_FDS	(2 * SERVER_METRICS_SOCKETS + 8)

struct server {
	struct conf		 conf;		/* the configuration in force */
	server_reload_fn	 reload;
	void			*reload_arg;
	struct event_base	*base;
	struct listener_set	*listeners;
	struct worker_pool	*workers;
	atomic_uint		 connections;	/* open, in every worker */
	struct event		*signal_evs[SERVER_SIGNALS];
	struct event		*resume_ev;	/* re-enables accepting after a pause */
	struct event		*status_ev;
	struct event		*watchdog_ev;
	uint64_t		 watchdog_usec;	/* 0: systemd did not ask */
	/* Accepted, but no worker could take it yet. */
	bool			 has_pending;
	bool			 pending_shed;
	int			 pending_fd;
	unsigned		 pending_flags;
	socklen_t		 pending_addrlen;
	struct sockaddr_storage	 pending_addr;
	struct metrics_block	*metrics;	/* the main thread's counters: reloads, refusals */
	struct metrics_http	*metrics_http;	/* NULL: no metrics_listen */
	int			 exit_status;
	/* Out of descriptors. */
	int			 reserve_fd;	/* /dev/null, given up to accept; -1 while out */
	suseconds_t		 fd_wait_usec;	/* the next wait for one, without the reserve */
	time_t			 fd_logged_at;	/* at most one line a second */
	unsigned		 fd_unlogged;	/* times since that line */
	struct event		*second_ev;
	struct tls_slot		*tls;		/* main.c's; NULL: no TLS */
};

static struct log_ratelimit server_accept_rl;

static void
server_conn_limits(const struct server *s, const struct conf *conf, struct conn_limits *limits)
{
	memset(limits, 0, sizeof *limits);
	limits->dispatch.max_message_size = conf->max_message_size;
	limits->dispatch.max_nesting_depth = conf->max_nesting_depth;
	limits->max_output_buffer = conf->max_output_buffer;
	limits->idle_timeout_ms = conf->idle_timeout_ms;
	limits->message_timeout_ms = conf->message_timeout_ms;
	limits->count_metrics = conf_metrics_enabled(conf);
	limits->tls_handshake_timeout_ms = conf->tls_handshake_timeout_ms;
	limits->tls = s->tls;
}

/* --- accepting ------------------------------------------------------------ */

static void
server_pause_accepting(struct server *s, suseconds_t usec)
{
	struct timeval pause = { 0, usec };

	listener_set_pause(s->listeners);
	evtimer_add(s->resume_ev, &pause);
}

/* Hand fd to a worker, or hold it until one has room. */
static bool
server_hand_off(struct server *s, int fd, const struct sockaddr_storage *addr,
    socklen_t addrlen, bool shed, unsigned flags)
{
	atomic_fetch_add(&s->connections, 1);
	if (worker_pool_hand_off(s->workers, fd, (const struct sockaddr *)addr, addrlen, shed,
	    flags))
		return true;
	/*
	 * Every worker's pipe is full (a burst of connections): hold this
	 * one and leave the rest in the kernel's backlog until a worker
	 * catches up.
	 */
	s->pending_fd = fd;
	s->pending_addr = *addr;
	s->pending_addrlen = addrlen;
	s->pending_shed = shed;
	s->pending_flags = flags;
	s->has_pending = true;
	server_pause_accepting(s, 1000);
	return false;
}

static void
server_resume_accepting(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	if (s->has_pending) {
		if (!worker_pool_hand_off(s->workers, s->pending_fd,
		    (struct sockaddr *)&s->pending_addr, s->pending_addrlen, s->pending_shed,
		    s->pending_flags)) {
			server_pause_accepting(s, 1000);
			return;
		}
		s->has_pending = false;
	}
	listener_set_resume(s->listeners);
}

/* Take the reserve descriptor back if it was given up and one is free again. */
static void
server_keep_reserve(struct server *s)
{
	if (s->reserve_fd >= 0)
		return;
	if ((s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		s->fd_wait_usec = SERVER_FD_WAIT_MIN_USEC;
}

/* Out of descriptors: one line a second at most, however often. */
static void
server_log_out_of_fds(struct server *s, int err)
{
	time_t now = time(NULL);

	if (now == s->fd_logged_at) {
		s->fd_unlogged++;
		return;
	}
	if (s->fd_unlogged > 0)
		log_warning("accept: %s: admitting new connections by closing others (%u more "
		    "since the last such line)", strerror(err), s->fd_unlogged);
	else
		log_warning("accept: %s: admitting new connections by closing others",
		    strerror(err));
	s->fd_logged_at = now;
	s->fd_unlogged = 0;
}

/*
 * accept failed with EMFILE or ENFILE: give up the reserve descriptor to
 * accept one connection, which is then admitted by a shed.  The fd, or
 * -1 (accepting then waits, longer each time, until a shed frees one).
 */
static int
server_accept_out_of_fds(struct server *s, int lfd, int err, struct sockaddr_storage *addr,
    socklen_t *addrlen)
{
	int fd = -1;

	server_log_out_of_fds(s, err);
	if (s->reserve_fd >= 0) {
		close(s->reserve_fd);
		s->reserve_fd = -1;
		*addrlen = sizeof *addr;
		fd = accept4(lfd, (struct sockaddr *)addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		server_keep_reserve(s);		/* if the accept did not take it */
	}
	if (fd < 0) {
		server_pause_accepting(s, s->fd_wait_usec);
		if (s->fd_wait_usec < SERVER_FD_WAIT_MAX_USEC)
			s->fd_wait_usec *= 2;
	}
	return fd;
}

static void
server_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct server		*s = arg;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	unsigned		 flags = listener_set_conn_flags(s->listeners, lfd);
	bool			 shed;
	int			 fd;

	(void)what;
	if (s->has_pending)
		return;		/* one held at a time (the listeners are paused meanwhile) */
	for (int i = 0; i < SERVER_ACCEPTS_PER_TURN; i++) {
		/* Each shed in flight holds a descriptor more than max_connections: a few only. */
		if (worker_pool_sheds_in_flight(s->workers) >= SERVER_SHEDS_IN_FLIGHT) {
			server_pause_accepting(s, SERVER_SHED_WAIT_USEC);
			return;
		}
		server_keep_reserve(s);
		addrlen = sizeof addr;
		fd = accept4(lfd, (struct sockaddr *)&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		shed = atomic_load(&s->connections) >= s->conf.max_connections;
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				if ((fd = server_accept_out_of_fds(s, lfd, errno, &addr, &addrlen)) < 0)
					return;
				shed = true;
			} else {
				log_limited(&server_accept_rl, LOG_LEVEL_ERROR, "accept: %s",
				    strerror(errno));
				/* Out of memory: back off instead of spinning on the backlog. */
				if (errno == ENOBUFS || errno == ENOMEM)
					server_pause_accepting(s, 100000);
				return;
			}
		}
		if (!server_hand_off(s, fd, &addr, addrlen, shed, flags))
			return;
	}
}

/* Once a second: the shed log's line, and the reserve descriptor back if it can be. */
static void
server_on_second(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	shed_log_flush();
	server_keep_reserve(arg);
}

/* --- systemd: status and watchdog ----------------------------------------- */

static void
server_report_status(struct server *s, const char *state)
{
	char where[256];

	listener_set_describe(s->listeners, where, sizeof where);
	service_notify_status("%s on %s; %u connections; %llu requests served", state,
	    where[0] ? where : "nothing", atomic_load(&s->connections),
	    s->workers != NULL ? worker_pool_requests(s->workers) : 0);
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
	struct server *s = arg;

	(void)fd;
	(void)what;
	if (worker_pool_alive(s->workers))
		service_notify_watchdog();
}

/* --- the metrics endpoint ------------------------------------------------- */

/* The scrape: every worker's counters and the main thread's, summed by metrics_format. */
static int
server_render_metrics(void *arg, struct buf *out)
{
	struct server			*s = arg;
	const struct metrics_block	*blocks[SERVER_MAX_BLOCKS];
	const char			*names[METRICS_MAX_METHODS];
	struct metrics_view		 view;
	unsigned			 n;

	n = worker_pool_metrics(s->workers, blocks, SERVER_MAX_BLOCKS - 1);
	blocks[n++] = s->metrics;
	memset(&view, 0, sizeof view);
	view.version = PACKAGE_VERSION;
	view.method_count = dispatch_method_count() + 1;
	for (unsigned i = 0; i < view.method_count - 1 && i < METRICS_MAX_METHODS - 1; i++)
		names[i] = dispatch_method_name(i);
	names[view.method_count - 1] = "unknown";
	view.method_names = names;
	view.blocks = blocks;
	view.block_count = n;
	view.connections_open = atomic_load(&s->connections);
	view.max_connections = s->conf.max_connections;
	return metrics_format(&view, out);
}

/* Serve GET /metrics on address; NULL after logging why. */
static struct metrics_http *
server_open_metrics(struct server *s, const struct conf_listen *address)
{
	struct metrics_http	*mh;
	int			 fds[SERVER_METRICS_SOCKETS], count;
	char			 text[SERVER_METRICS_SOCKETS][SERVER_NAME_LEN];

	count = listener_open_sockets(address, "metrics", fds, SERVER_METRICS_SOCKETS);
	if (count < 0)
		return NULL;
	/* Each bound address, as the listeners say theirs (port 0 is the kernel's choice). */
	for (int i = 0; i < count; i++) {
		struct sockaddr_storage	bound;
		socklen_t		len = sizeof bound;

		if (getsockname(fds[i], (struct sockaddr *)&bound, &len) == 0)
			conn_format_address((struct sockaddr *)&bound, text[i], sizeof text[i]);
		else
			conf_format_listen(address, text[i], sizeof text[i]);
	}
	if ((mh = metrics_http_open(s->base, fds, (unsigned)count, server_render_metrics,
	    s)) == NULL)
		return NULL;
	for (int i = 0; i < count; i++)
		log_notice("serving metrics on http://%s/metrics", text[i]);
	return mh;
}

/*
 * A reload that adds, moves or removes metrics_listen.  If the new
 * address can't be opened the old endpoint stays; -1 then.
 */
static int
server_update_metrics(struct server *s, const struct conf *next)
{
	struct metrics_http *mh = NULL;

	if (conf_metrics_enabled(next) == conf_metrics_enabled(&s->conf) &&
	    strcmp(next->metrics_listen.host, s->conf.metrics_listen.host) == 0 &&
	    strcmp(next->metrics_listen.port, s->conf.metrics_listen.port) == 0)
		return 0;
	if (conf_metrics_enabled(next)) {
		/* The same port on another host: free it first, as the listeners do. */
		if (s->metrics_http != NULL &&
		    strcmp(next->metrics_listen.port, s->conf.metrics_listen.port) == 0) {
			metrics_http_free(s->metrics_http);
			s->metrics_http = NULL;
			if ((mh = server_open_metrics(s, &next->metrics_listen)) == NULL &&
			    (s->metrics_http = server_open_metrics(s,
			    &s->conf.metrics_listen)) == NULL)
				log_error("metrics: the old endpoint could not be opened again");
			if (mh == NULL)
				return -1;
		} else if ((mh = server_open_metrics(s, &next->metrics_listen)) == NULL) {
			return -1;
		}
	}
	if (s->metrics_http != NULL) {
		metrics_http_free(s->metrics_http);
		if (mh == NULL)
			log_notice("no longer serving metrics");
	}
	s->metrics_http = mh;
	return 0;
}

/* --- signals: reload, stop ------------------------------------------------ */

static void
server_log_restart_key(const char *key, void *arg)
{
	(void)arg;
	log_warning("%s: the change takes effect after a restart", key);
}

/* Put next in force; returns how many listen lines (or metrics_listen) could not be opened. */
static unsigned
server_apply(struct server *s, struct conf *next)
{
	struct conn_limits	limits;
	unsigned		failed;

	conf_keep_restart_keys(&s->conf, next, server_log_restart_key, NULL);
	log_set_level((enum log_level)next->log_level);
	log_set_target((enum log_target)next->log_target);
	failed = listener_set_update(s->listeners, next);
	if (server_update_metrics(s, next) != 0) {
		/* Keep saying where the endpoint really is. */
		next->metrics_listen = s->conf.metrics_listen;
		failed++;
	}
	server_conn_limits(s, next, &limits);
	worker_pool_set_limits(s->workers, &limits);
	s->conf = *next;
	return failed;
}

static void
server_reload(struct server *s)
{
	struct conf	next = s->conf;
	unsigned	failed;

	service_notify_reloading();
	log_notice("received SIGHUP, reloading the configuration");
	if (s->reload == NULL || s->reload(s->reload_arg, &next) != 0) {
		log_error("reload failed: the configuration in force stays");
		metrics_add(&s->metrics->reloads_failed, 1);
	} else if ((failed = server_apply(s, &next)) > 0) {
		log_error("configuration reloaded, but %u address%s could not be opened "
		    "(see above)", failed, failed == 1 ? "" : "es");
		metrics_add(&s->metrics->reloads_failed, 1);
	} else {
		log_notice("configuration reloaded");
		metrics_add(&s->metrics->reloads_ok, 1);
	}
	service_notify_ready();
	server_report_status(s, "Serving");
}

static void
server_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	if (sig == SIGHUP) {
		server_reload(s);
		return;
	}
	log_notice("received %s, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	service_notify_stopping();
	s->exit_status = 0;
	event_base_loopbreak(s->base);
}

/* --- the steps of server_run ---------------------------------------------- */

/* The main loop and its timers: resuming accepts, status, the shed log, watchdog. */
static int
server_start_loop(struct server *s)
{
	struct timeval status = { SERVER_STATUS_SECONDS, 0 };
	struct timeval second = { 1, 0 };

	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		log_warning("cannot ignore SIGPIPE: %s", strerror(errno));
	if ((s->base = event_base_new()) == NULL) {
		log_error("cannot create the event loop");
		return -1;
	}
	s->resume_ev = evtimer_new(s->base, server_resume_accepting, s);
	s->status_ev = event_new(s->base, -1, EV_PERSIST, server_on_status, s);
	s->second_ev = event_new(s->base, -1, EV_PERSIST, server_on_second, s);
	if (s->resume_ev == NULL || s->status_ev == NULL || event_add(s->status_ev, &status) != 0 ||
	    s->second_ev == NULL || event_add(s->second_ev, &second) != 0) {
		log_error("cannot set up the main loop");
		return -1;
	}
	if ((s->watchdog_usec = service_watchdog_interval_usec()) > 0) {
		struct timeval every = {
			.tv_sec = (time_t)(s->watchdog_usec / 1000000),
			.tv_usec = (suseconds_t)(s->watchdog_usec % 1000000),
		};

		s->watchdog_ev = event_new(s->base, -1, EV_PERSIST, server_on_watchdog, s);
		if (s->watchdog_ev == NULL || event_add(s->watchdog_ev, &every) != 0) {
			log_error("cannot set up the watchdog");
			return -1;
		}
	}
	return 0;
}

static int
server_start_workers(struct server *s)
{
	struct timeval		tick = { 1, 0 };
	struct conn_limits	limits;

	if (s->watchdog_usec > 0 && s->watchdog_usec < 2000000) {
		/* Workers beat at least twice per watchdog check. */
		tick.tv_sec = 0;
		tick.tv_usec = (suseconds_t)(s->watchdog_usec / 2);
	}
	server_conn_limits(s, &s->conf, &limits);
	s->workers = worker_pool_start(s->conf.workers, &limits, &tick, &s->connections);
	return s->workers != NULL ? 0 : -1;
}

static int
server_watch_signals(struct server *s)
{
	static const int signals[SERVER_SIGNALS] = { SIGTERM, SIGINT, SIGHUP };

	for (unsigned i = 0; i < SERVER_SIGNALS; i++) {
		s->signal_evs[i] = evsignal_new(s->base, signals[i], server_on_signal, s);
		if (s->signal_evs[i] == NULL || event_add(s->signal_evs[i], NULL) != 0) {
			log_error("cannot watch signals");
			return -1;
		}
	}
	return 0;
}

static int
server_start_metrics(struct server *s)
{
	if (!conf_metrics_enabled(&s->conf))
		return 0;
	s->metrics_http = server_open_metrics(s, &s->conf.metrics_listen);
	return s->metrics_http != NULL ? 0 : -1;
}

static int
server_watch_listeners(struct server *s)
{
	return listener_set_watch(s->listeners, s->base, server_on_accept, s);
}

static void
server_notify_ready(struct server *s)
{
	unsigned workers = worker_pool_size(s->workers);

	log_notice("calcd %s serving with %u worker%s", PACKAGE_VERSION, workers,
	    workers == 1 ? "" : "s");
	service_notify_ready();
	server_report_status(s, "Serving");
}

/*
 * Connections the kernel has completed but calcd not yet accepted would be
 * reset when their listener closes, after a balancer has already sent them
 * a client's bytes (and so cannot retry elsewhere): accept them now, up to
 * SERVER_BACKLOG_ROUNDS turns per listener, to be served like the others.
 * The workers still take orders until their stop order comes.
 */
static void
server_accept_backlog(struct server *s)
{
	if (s->workers == NULL)
		return;
	for (int round = 0; round < SERVER_BACKLOG_ROUNDS; round++) {
		for (int tries = 0; s->has_pending && tries < 1000; tries++) {
			if (worker_pool_hand_off(s->workers, s->pending_fd,
			    (struct sockaddr *)&s->pending_addr, s->pending_addrlen, s->pending_shed,
			    s->pending_flags))
				s->has_pending = false;
			else
				usleep(1000);
		}
		if (s->has_pending)
			return;
		listener_set_poll(s->listeners, server_on_accept, s);
	}
}

/*
 * Close the listeners at once (new connections are refused, so a
 * balancer's health check fails and sends them elsewhere), then let the
 * workers serve the connections open until their clients close them, or
 * until shutdown_timeout (worker_pool_stop).
 */
static void
server_stop(struct server *s)
{
	unsigned open;

	server_report_status(s, "Stopping");
	server_accept_backlog(s);
	if (s->has_pending) {
		close(s->pending_fd);
		atomic_fetch_sub(&s->connections, 1);
		s->has_pending = false;
	}
	listener_set_close(s->listeners);
	metrics_http_free(s->metrics_http);
	s->metrics_http = NULL;
	if ((open = atomic_load(&s->connections)) > 0)
		log_notice("not listening any more; serving %u open connection%s until %s "
		    "closed, for at most shutdown_timeout (%llu ms)", open, open == 1 ? "" : "s",
		    open == 1 ? "its client has" : "their clients have",
		    (unsigned long long)s->conf.shutdown_timeout_ms);
	if (s->workers != NULL)
		worker_pool_stop(s->workers, s->conf.shutdown_timeout_ms);
	shed_log_flush();
	log_notice("stopped");
}

/* --- the interface --------------------------------------------------------- */

struct server *
server_open(const struct conf *conf)
{
	struct server *s;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		log_error("out of memory");
		return NULL;
	}
	s->conf = *conf;
	s->exit_status = 1;
	atomic_init(&s->connections, 0);
	if ((s->metrics = calloc(1, sizeof *s->metrics)) == NULL) {
		log_error("out of memory");
		free(s);
		return NULL;
	}
	s->fd_wait_usec = SERVER_FD_WAIT_MIN_USEC;
	if ((s->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		log_warning("cannot keep a descriptor in reserve (/dev/null: %s): running out of "
		    "descriptors will admit new connections more slowly", strerror(errno));
	if ((s->listeners = listener_set_open(conf)) == NULL) {
		if (s->reserve_fd >= 0)
			close(s->reserve_fd);
		free(s->metrics);
		free(s);
		return NULL;
	}
	return s;
}

unsigned
server_descriptors_reserved(unsigned workers)
{
	return SERVER_STDIO_FDS + SERVER_LISTENER_FDS + SERVER_LOOP_FDS + SERVER_LOG_FDS +
	    SERVER_RESERVE_FDS + SERVER_PENDING_FDS + SERVER_SHEDS_IN_FLIGHT + SERVER_MARGIN_FDS +
	    SERVER_METRICS_FDS + workers * WORKER_DESCRIPTORS;
}

void
server_set_reload(struct server *s, server_reload_fn reload, void *arg)
{
	s->reload = reload;
	s->reload_arg = arg;
}

void
server_set_tls(struct server *s, struct tls_slot *tls)
{
	s->tls = tls;
}

int
server_run(struct server *s)
{
	if (server_start_loop(s) == 0 && server_start_workers(s) == 0 &&
	    server_watch_signals(s) == 0 && server_start_metrics(s) == 0 &&
	    server_watch_listeners(s) == 0) {
		server_notify_ready(s);
		event_base_dispatch(s->base);
	}
	server_stop(s);
	return s->exit_status;
}

void
server_free(struct server *s)
{
	if (s == NULL)
		return;
	listener_set_free(s->listeners);
	metrics_http_free(s->metrics_http);
	worker_pool_free(s->workers);
	free(s->metrics);
	for (unsigned i = 0; i < SERVER_SIGNALS; i++)
		if (s->signal_evs[i] != NULL)
			event_free(s->signal_evs[i]);
	if (s->resume_ev != NULL)
		event_free(s->resume_ev);
	if (s->status_ev != NULL)
		event_free(s->status_ev);
	if (s->second_ev != NULL)
		event_free(s->second_ev);
	if (s->reserve_fd >= 0)
		close(s->reserve_fd);
	if (s->watchdog_ev != NULL)
		event_free(s->watchdog_ev);
	if (s->base != NULL)
		event_base_free(s->base);
	free(s);
}
