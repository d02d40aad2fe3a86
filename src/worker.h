/*
 * worker: the worker threads.  Each runs its own event loop and serves
 * the connections handed to it until they close; the main thread reaches
 * a worker only through its order pipe (a connection, new limits, stop)
 * and reads its heartbeat and request count.
 */
#ifndef CALCD_WORKER_H
#define CALCD_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "conn.h"

struct worker_pool;

/*
 * Start count threads serving with limits, each beating once a tick.
 * *connections counts open connections: a worker takes one off for each
 * it closes.  NULL after logging why, with no thread left running.
 */
struct worker_pool	*worker_pool_start(unsigned count, const struct conn_limits *,
			    const struct timeval *tick, atomic_uint *connections);
unsigned		 worker_pool_size(const struct worker_pool *);

/*
 * Descriptors each worker keeps open: its event loop's (epoll and
 * libevent's signal pipe) and its order pipe.
 */
#define WORKER_DESCRIPTORS	5

/*
 * Give an accepted socket to the next worker whose pipe has room; false
 * if every pipe is full (fd is still the caller's).  shed: calcd is full,
 * so the worker closes one of its connections to make room (see
 * conn_shed_one); if it has none to close it passes the socket to the
 * next worker, and once every worker has had it, closes it (refused).
 */
bool		 worker_pool_hand_off(struct worker_pool *, int fd, const struct sockaddr *,
		    socklen_t, bool shed);
/* Sockets handed off with shed whose worker has not yet made room or refused them. */
unsigned	 worker_pool_sheds_in_flight(const struct worker_pool *);
/* New limits for every worker, from its next connection and timer on. */
void		 worker_pool_set_limits(struct worker_pool *, const struct conn_limits *);
/*
 * Every worker answers what it has been sent and stops; what is still
 * busy after grace_ms is closed.  Returns once every thread has ended.
 */
void		 worker_pool_stop(struct worker_pool *, uint64_t grace_ms);

/* Requests served by all workers (as of their last tick). */
unsigned long long worker_pool_requests(const struct worker_pool *);
struct metrics_block;
/* Each worker's counters, for a scrape: up to max of them into blocks; how many. */
unsigned	 worker_pool_metrics(const struct worker_pool *, const struct metrics_block **blocks,
		    unsigned max);
/* For the watchdog: has every worker's loop turned since the last call?  Logs each that has not. */
bool		 worker_pool_alive(struct worker_pool *);

void		 worker_pool_free(struct worker_pool *);

#endif
