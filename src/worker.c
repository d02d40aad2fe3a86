/*
 * worker: the worker threads.  Each owns an event loop and the
 * connections in it; orders (a socket to serve, new limits, stop) come
 * down a pipe from the main thread, so no lock is taken on the request
 * path.  On stop a worker goes on serving its connections until their
 * clients close them; when the grace time runs out it has each answer
 * what it received and linger, and closes what is left CONN_LINGER_MS
 * later.  A tick timer is its heartbeat.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "metrics.h"
#include "worker.h"

enum worker_order_kind {
	WORKER_ORDER_CONN,	/* serve fd */
	WORKER_ORDER_LIMITS,	/* apply limits */
	WORKER_ORDER_STOP,	/* drain, then stop within grace_ms */
};

/* One order to a worker; small enough to cross a pipe in one atomic write. */
struct worker_order {
	enum worker_order_kind	kind;
	int			fd;
	bool			shed;	/* CONN: calcd is full, make room for it */
	unsigned		hops;	/* CONN with shed: workers that had no room to make */
	socklen_t		addrlen;
	struct sockaddr_storage	addr;
	unsigned		flags;		/* CONN_ flags for fd */
	struct conn_limits	limits;
	uint64_t		grace_ms;
};
_Static_assert(sizeof(struct worker_order) <= PIPE_BUF, "orders must be atomic");

struct worker {
	struct worker_pool *pool;
	unsigned	 index;
	pthread_t	 thread;
	bool		 started;
	struct event_base *base;
	struct event	*order_ev;
	struct event	*tick_ev;
	struct event	*grace_ev;
	struct event	*linger_ev;
	int		 pipe_read;
	int		 pipe_write;
	bool		 stopping;
	struct conn_loop	 env;
	struct metrics_block *metrics;	/* this thread's counters, apart from its neighbours' */
	atomic_uint	*connections;	/* the main thread's count of open connections */
	atomic_uint	 beats;		/* the loop's heartbeat, for the watchdog */
	atomic_ullong	 requests;	/* env.requests, published each tick */
	unsigned	 beats_seen;	/* main thread: beats at the last watchdog check */
};

struct worker_pool {
	struct worker	*workers;
	unsigned	 count;
	unsigned	 next;		/* round robin for new connections */
	atomic_uint	 sheds_in_flight;	/* CONN orders with shed not yet settled */
};

static void
worker_conn_closed(void *arg)
{
	struct worker *w = arg;

	atomic_fetch_sub(w->connections, 1);
	if (w->stopping && w->env.count == 0)
		event_base_loopbreak(w->base);
}

/* The last step: what has not finished lingering is closed as it is. */
static void
worker_on_linger_over(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	log_warning("worker %u: %u connection%s not done %u ms after shutdown_timeout "
	    "(replies unread, or the client did not close), closing", w->index, w->env.count,
	    w->env.count == 1 ? "" : "s", (unsigned)CONN_LINGER_MS);
	conn_close_all(&w->env);
	event_base_loopbreak(w->base);
}

/* shutdown_timeout is over: every connection answers what it has received and ends. */
static void
worker_on_grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct worker	*w = arg;
	struct timeval	 linger = {
		.tv_sec = (time_t)(CONN_LINGER_MS / 1000),
		.tv_usec = (suseconds_t)(CONN_LINGER_MS % 1000) * 1000,
	};

	(void)fd;
	(void)what;
	log_notice("worker %u: shutdown_timeout is over with %u connection%s open: answering "
	    "what %s received, then closing", w->index, w->env.count,
	    w->env.count == 1 ? "" : "s", w->env.count == 1 ? "it has" : "they have");
	conn_finish_all(&w->env);
	if (w->env.count == 0) {
		event_base_loopbreak(w->base);
		return;
	}
	w->linger_ev = evtimer_new(w->base, worker_on_linger_over, w);
	if (w->linger_ev == NULL || evtimer_add(w->linger_ev, &linger) != 0)
		worker_on_linger_over(-1, 0, w);
}

static void
worker_stop(struct worker *w, uint64_t grace_ms)
{
	struct timeval grace = {
		.tv_sec = (time_t)(grace_ms / 1000),
		.tv_usec = (suseconds_t)(grace_ms % 1000 * 1000),
	};

	w->stopping = true;
	event_del(w->order_ev);
	/* Connections stay open until their clients close them, or grace_ms. */
	conn_drain_all(&w->env);
	if (w->env.count == 0) {
		event_base_loopbreak(w->base);
		return;
	}
	w->grace_ev = evtimer_new(w->base, worker_on_grace_over, w);
	if (w->grace_ev == NULL || evtimer_add(w->grace_ev, &grace) != 0)
		worker_on_grace_over(-1, 0, w);
}

static int	worker_send_order(struct worker *, const struct worker_order *, bool must);

/*
 * A connection calcd is full for: close one of this worker's to make
 * room; with none to close, let the next worker try; once every worker
 * has, close the new one.  Returns whether the new one is to be served here.
 */
static bool
worker_make_room(struct worker *w, const struct worker_order *order)
{
	struct worker_pool	*pool = w->pool;
	struct worker_order	 on = *order;

	if (conn_shed_one(&w->env))
		return true;
	on.hops++;
	if (on.hops < pool->count &&
	    worker_send_order(&pool->workers[(w->index + 1) % pool->count], &on, false) == 0)
		return false;	/* still in flight */
	conn_refuse(&w->env, order->fd, (const struct sockaddr *)&order->addr);
	atomic_fetch_sub(w->connections, 1);
	atomic_fetch_sub(&pool->sheds_in_flight, 1);
	return false;
}

static void
worker_take_conn(struct worker *w, const struct worker_order *order)
{
	if (w->stopping) {
		close(order->fd);
		atomic_fetch_sub(w->connections, 1);
		if (order->shed)
			atomic_fetch_sub(&w->pool->sheds_in_flight, 1);
		return;
	}
	if (order->shed) {
		if (!worker_make_room(w, order))
			return;
		atomic_fetch_sub(&w->pool->sheds_in_flight, 1);
	}
	conn_new(&w->env, order->fd, (const struct sockaddr *)&order->addr, order->addrlen,
	    order->flags);
}

static void
worker_take_orders(struct worker *w, const struct worker_order *batch, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		switch (batch[i].kind) {
		case WORKER_ORDER_CONN:
			worker_take_conn(w, &batch[i]);
			break;
		case WORKER_ORDER_LIMITS:
			conn_loop_set_limits(&w->env, &batch[i].limits);
			break;
		case WORKER_ORDER_STOP:
			worker_stop(w, batch[i].grace_ms);
			break;
		}
	}
}

/* Worker side: take orders off the pipe. */
static void
worker_on_order(evutil_socket_t fd, short what, void *arg)
{
	struct worker		*w = arg;
	struct worker_order	 batch[8];
	ssize_t			 n;

	(void)what;
	/* Drain the pipe (within reason), so a burst of connections never fills it. */
	for (int round = 0; round < 64; round++) {
		n = read(fd, batch, sizeof batch);
		if (n <= 0)
			return;
		worker_take_orders(w, batch, (size_t)n / sizeof batch[0]);
	}
}

static void
worker_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	atomic_fetch_add_explicit(&w->beats, 1, memory_order_relaxed);
	atomic_store_explicit(&w->requests, w->env.requests, memory_order_relaxed);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;
	sigset_t	 all;

	/* Signals are the main thread's business. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* event_base_dispatch, one pass at a time, for the connections' clock. */
	for (;;) {
		int rc;

		conn_loop_pass_begin();
		rc = event_base_loop(w->base, EVLOOP_ONCE);
		conn_loop_pass_end();
		if (rc != 0 || event_base_got_break(w->base) || event_base_got_exit(w->base))
			break;
	}
	conn_close_all(&w->env);
	return NULL;
}

/* Main side.  must: the order has to arrive (limits, stop), so wait briefly if the worker is behind. */
static int
worker_send_order(struct worker *w, const struct worker_order *order, bool must)
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
worker_init(struct worker *w, struct worker_pool *pool, unsigned index,
    const struct conn_limits *limits, const struct timeval *tick, atomic_uint *connections)
{
	int fds[2];

	w->pool = pool;
	w->index = index;
	w->connections = connections;
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
	w->order_ev = event_new(w->base, w->pipe_read, EV_READ | EV_PERSIST, worker_on_order, w);
	w->tick_ev = event_new(w->base, -1, EV_PERSIST, worker_on_tick, w);
	if (w->order_ev == NULL || event_add(w->order_ev, NULL) != 0 ||
	    w->tick_ev == NULL || event_add(w->tick_ev, tick) != 0) {
		log_error("worker %u: cannot set up its event loop", index);
		return -1;
	}
	/* A cache line of its own: two workers' counters never share one. */
	w->metrics = aligned_alloc(64, (sizeof *w->metrics + 63) / 64 * 64);
	if (w->metrics == NULL) {
		log_error("worker %u: out of memory", index);
		return -1;
	}
	memset(w->metrics, 0, sizeof *w->metrics);
	if (conn_loop_init(&w->env, w->base, w->metrics, limits) != 0) {
		log_error("worker %u: out of memory", index);
		return -1;
	}
	w->env.on_close = worker_conn_closed;
	w->env.on_close_arg = w;
	return 0;
}

static void
worker_free(struct worker *w)
{
	if (w->order_ev != NULL)
		event_free(w->order_ev);
	if (w->tick_ev != NULL)
		event_free(w->tick_ev);
	if (w->grace_ev != NULL)
		event_free(w->grace_ev);
	if (w->linger_ev != NULL)
		event_free(w->linger_ev);
	if (w->pipe_read >= 0)
		close(w->pipe_read);
	if (w->pipe_write >= 0)
		close(w->pipe_write);
	conn_loop_free(&w->env);
	if (w->base != NULL)
		event_base_free(w->base);
	free(w->metrics);
}

struct worker_pool *
worker_pool_start(unsigned count, const struct conn_limits *limits, const struct timeval *tick,
    atomic_uint *connections)
{
	struct worker_pool *pool;

	if ((pool = calloc(1, sizeof *pool)) == NULL ||
	    (pool->workers = calloc(count, sizeof *pool->workers)) == NULL) {
		log_error("out of memory");
		free(pool);
		return NULL;
	}
	atomic_init(&pool->sheds_in_flight, 0);
	for (unsigned i = 0; i < count; i++) {
		struct worker *w = &pool->workers[i];

		/* Counted first: worker_pool_free must clean up a half-made worker too. */
		pool->count++;
		if (worker_init(w, pool, i, limits, tick, connections) != 0)
			goto fail;
		if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
			log_error("cannot start worker thread %u", i);
			goto fail;
		}
		w->started = true;
	}
	return pool;

fail:
	worker_pool_stop(pool, 0);
	worker_pool_free(pool);
	return NULL;
}

unsigned
worker_pool_size(const struct worker_pool *pool)
{
	return pool->count;
}

bool
worker_pool_hand_off(struct worker_pool *pool, int fd, const struct sockaddr *addr,
    socklen_t addrlen, bool shed, unsigned flags)
{
	struct worker_order order;

	memset(&order, 0, sizeof order);
	order.kind = WORKER_ORDER_CONN;
	order.fd = fd;
	order.shed = shed;
	order.flags = flags;
	order.addrlen = addrlen < sizeof order.addr ? addrlen : sizeof order.addr;
	memcpy(&order.addr, addr, order.addrlen);
	for (unsigned tries = 0; tries < pool->count; tries++) {
		struct worker *w = &pool->workers[pool->next];

		pool->next = (pool->next + 1) % pool->count;
		/* Counted first: the worker may settle it before write returns. */
		if (shed)
			atomic_fetch_add(&pool->sheds_in_flight, 1);
		if (worker_send_order(w, &order, false) == 0)
			return true;
		if (shed)
			atomic_fetch_sub(&pool->sheds_in_flight, 1);
	}
	return false;
}

unsigned
worker_pool_sheds_in_flight(const struct worker_pool *pool)
{
	return atomic_load(&pool->sheds_in_flight);
}

void
worker_pool_set_limits(struct worker_pool *pool, const struct conn_limits *limits)
{
	struct worker_order order;

	memset(&order, 0, sizeof order);
	order.kind = WORKER_ORDER_LIMITS;
	order.limits = *limits;
	for (unsigned i = 0; i < pool->count; i++)
		if (worker_send_order(&pool->workers[i], &order, true) != 0)
			log_error("worker %u did not take the new limits", i);
}

void
worker_pool_stop(struct worker_pool *pool, uint64_t grace_ms)
{
	struct worker_order order;

	memset(&order, 0, sizeof order);
	order.kind = WORKER_ORDER_STOP;
	order.grace_ms = grace_ms;
	for (unsigned i = 0; i < pool->count; i++)
		if (pool->workers[i].started &&
		    worker_send_order(&pool->workers[i], &order, true) != 0)
			log_error("worker %u did not take the stop order", i);
	for (unsigned i = 0; i < pool->count; i++) {
		if (pool->workers[i].started)
			pthread_join(pool->workers[i].thread, NULL);
		pool->workers[i].started = false;
	}
}

unsigned long long
worker_pool_requests(const struct worker_pool *pool)
{
	unsigned long long requests = 0;

	for (unsigned i = 0; i < pool->count; i++)
		requests += atomic_load_explicit(&pool->workers[i].requests, memory_order_relaxed);
	return requests;
}

unsigned
worker_pool_metrics(const struct worker_pool *pool, const struct metrics_block **blocks,
    unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < pool->count && n < max; i++)
		if (pool->workers[i].metrics != NULL)
			blocks[n++] = pool->workers[i].metrics;
	return n;
}

bool
worker_pool_alive(struct worker_pool *pool)
{
	bool alive = true;

	for (unsigned i = 0; i < pool->count; i++) {
		struct worker	*w = &pool->workers[i];
		unsigned	 beats = atomic_load_explicit(&w->beats, memory_order_relaxed);

		if (beats == w->beats_seen) {
			log_warning("worker %u has not run its loop since the last watchdog check", i);
			alive = false;
		}
		w->beats_seen = beats;
	}
	return alive;
}

void
worker_pool_free(struct worker_pool *pool)
{
	if (pool == NULL)
		return;
	for (unsigned i = 0; i < pool->count; i++)
		worker_free(&pool->workers[i]);
	free(pool->workers);
	free(pool);
}
