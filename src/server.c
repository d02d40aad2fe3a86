/*
 * server: the main thread.  It runs the main loop, where admit.c accepts
 * on the listeners and hands each connection to a worker; it reloads the
 * configuration on SIGHUP, drains and stops on SIGTERM/SIGINT, serves the
 * metrics endpoint, and keeps systemd informed: readiness, status, and
 * the watchdog while every worker's loop still turns.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "admit.h"
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

#define SERVER_NAME_LEN		(CONF_LISTEN_LEN + 16)
#define SERVER_STATUS_SECONDS	5
#define SERVER_SIGNALS		3
#define SERVER_METRICS_SOCKETS	4
#define SERVER_MAX_BLOCKS	257	/* every worker's and the main thread's */
/* Descriptors besides connections (see server_descriptors_reserved). */
#define SERVER_STDIO_FDS	3
#define SERVER_LISTENER_FDS	(4 * CONF_MAX_LISTEN)	/* "*" is 2, twice in a reload */
#define SERVER_LOOP_FDS		3	/* epoll, libevent's signal pipe */
#define SERVER_LOG_FDS		1	/* syslog's socket */
#define SERVER_MARGIN_FDS	16	/* a reload: the file, name lookups; sd_notify */
/* metrics_listen: its sockets, twice in a reload, and its connections */
#define SERVER_METRICS_FDS	(2 * SERVER_METRICS_SOCKETS + METRICS_HTTP_MAX_CONNECTIONS)

struct server {
	struct conf		 conf;		/* the configuration in force */
	server_reload_fn	 reload;
	void			*reload_arg;
	struct event_base	*base;
	struct listener_set	*listeners;
	struct worker_pool	*workers;
	struct admit		*admit;		/* accepting, shedding, handing off */
	atomic_uint		 connections;	/* open, in every worker */
	struct event		*signal_evs[SERVER_SIGNALS];
	struct event		*status_ev;
	struct event		*watchdog_ev;
	uint64_t		 watchdog_usec;	/* 0: systemd did not ask */
	struct metrics_block	*metrics;	/* the main thread's counters: reloads, refusals */
	struct metrics_http	*metrics_http;	/* NULL: no metrics_listen */
	int			 exit_status;
	struct event		*second_ev;
	struct tls_slot		*tls;		/* main.c's; NULL: no TLS */
};

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

/* --- timers ------------------------------------------------------------- */

/* Once a second: the shed log's line, and the reserve descriptor back if it can be. */
static void
server_on_second(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	shed_log_flush();
	admit_keep_reserve(s->admit);
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

/* A metrics connection closed unserved: the endpoint had all it keeps open. */
static void
server_metrics_refused(void *arg)
{
	struct server *s = arg;

	metrics_add(&s->metrics->metrics_refused, 1);
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
	    server_metrics_refused, s)) == NULL)
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
	admit_set_max_connections(s->admit, next->max_connections);
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
	if (admit_start(s->admit, s->base, s->listeners) != 0) {
		log_error("cannot set up the main loop");
		return -1;
	}
	s->status_ev = event_new(s->base, -1, EV_PERSIST, server_on_status, s);
	s->second_ev = event_new(s->base, -1, EV_PERSIST, server_on_second, s);
	if (s->status_ev == NULL || event_add(s->status_ev, &status) != 0 ||
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
	if (s->workers == NULL)
		return -1;
	admit_set_workers(s->admit, s->workers);
	return 0;
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
	return admit_watch(s->admit);
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
	admit_drain(s->admit);
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
	if ((s->admit = admit_open(&s->connections, conf->max_connections)) == NULL) {
		free(s->metrics);
		free(s);
		return NULL;
	}
	if ((s->listeners = listener_set_open(conf)) == NULL) {
		admit_free(s->admit);
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
	    ADMIT_DESCRIPTORS + SERVER_MARGIN_FDS + SERVER_METRICS_FDS +
	    workers * WORKER_DESCRIPTORS;
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
	sigset_t	stop_signals;

	if (s == NULL)
		return;
	/*
	 * Freeing the signal events gives SIGTERM, SIGINT and SIGHUP back their
	 * default action: one sent now (a second "stop", a late reload) would
	 * kill calcd as it exits cleanly.  Blocked, they wait unseen to the end.
	 */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGHUP);
	(void)pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	listener_set_free(s->listeners);
	metrics_http_free(s->metrics_http);
	worker_pool_free(s->workers);
	free(s->metrics);
	for (unsigned i = 0; i < SERVER_SIGNALS; i++)
		if (s->signal_evs[i] != NULL)
			event_free(s->signal_evs[i]);
	if (s->status_ev != NULL)
		event_free(s->status_ev);
	if (s->second_ev != NULL)
		event_free(s->second_ev);
	admit_free(s->admit);
	if (s->watchdog_ev != NULL)
		event_free(s->watchdog_ev);
	if (s->base != NULL)
		event_base_free(s->base);
	free(s);
}
