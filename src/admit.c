/*
 * admit: accepting on the listeners and handing each connection to a
 * worker, round robin (worker_pool_hand_off), for the main thread.
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
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "admit.h"
#include "listener.h"
#include "log.h"
#include "worker.h"

#define ADMIT_ACCEPTS_PER_TURN	64
#define ADMIT_BACKLOG_ROUNDS	16	/* at a stop: 16 turns of accepts per listener */
#define ADMIT_SHED_WAIT_USEC	1000	/* sheds in flight at the most: accepting waits this long */
#define ADMIT_FD_WAIT_MIN_USEC	1000	/* out of descriptors, no reserve: first wait */
#define ADMIT_FD_WAIT_MAX_USEC	64000	/* ... doubling up to this */

struct admit {
	atomic_uint		*connections;	/* open, in every worker (the server's count) */
	unsigned		 max_connections;
	struct listener_set	*listeners;
	struct worker_pool	*workers;	/* NULL until they run */
	struct event_base	*base;
	struct event		*resume_ev;	/* re-enables accepting after a pause */
	/* Accepted, but no worker could take it yet. */
	bool			 has_pending;
	bool			 pending_shed;
	int			 pending_fd;
	unsigned		 pending_flags;
	socklen_t		 pending_addrlen;
	struct sockaddr_storage	 pending_addr;
	/* Out of descriptors. */
	int			 reserve_fd;	/* /dev/null, given up to accept; -1 while out */
	suseconds_t		 fd_wait_usec;	/* the next wait for one, without the reserve */
	time_t			 fd_logged_at;	/* at most one line a second */
	unsigned		 fd_unlogged;	/* times since that line */
};

static struct log_ratelimit admit_accept_rl;

static void
admit_pause_accepting(struct admit *a, suseconds_t usec)
{
	struct timeval pause = { 0, usec };

	listener_set_pause(a->listeners);
	evtimer_add(a->resume_ev, &pause);
}

/* Hand fd to a worker, or hold it until one has room. */
static bool
admit_hand_off(struct admit *a, int fd, const struct sockaddr_storage *addr,
    socklen_t addrlen, bool shed, unsigned flags)
{
	atomic_fetch_add(a->connections, 1);
	if (worker_pool_hand_off(a->workers, fd, (const struct sockaddr *)addr, addrlen, shed,
	    flags))
		return true;
	/*
	 * Every worker's pipe is full (a burst of connections): hold this
	 * one and leave the rest in the kernel's backlog until a worker
	 * catches up.
	 */
	a->pending_fd = fd;
	a->pending_addr = *addr;
	a->pending_addrlen = addrlen;
	a->pending_shed = shed;
	a->pending_flags = flags;
	a->has_pending = true;
	admit_pause_accepting(a, 1000);
	return false;
}

static void
admit_resume_accepting(evutil_socket_t fd, short what, void *arg)
{
	struct admit *a = arg;

	(void)fd;
	(void)what;
	if (a->has_pending) {
		if (!worker_pool_hand_off(a->workers, a->pending_fd,
		    (struct sockaddr *)&a->pending_addr, a->pending_addrlen, a->pending_shed,
		    a->pending_flags)) {
			admit_pause_accepting(a, 1000);
			return;
		}
		a->has_pending = false;
	}
	listener_set_resume(a->listeners);
}

/* Take the reserve descriptor back if it was given up and one is free again. */
void
admit_keep_reserve(struct admit *a)
{
	if (a->reserve_fd >= 0)
		return;
	if ((a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
		a->fd_wait_usec = ADMIT_FD_WAIT_MIN_USEC;
}

/* Out of descriptors: one line a second at most, however often. */
static void
admit_log_out_of_fds(struct admit *a, int err)
{
	time_t now = time(NULL);

	if (now == a->fd_logged_at) {
		a->fd_unlogged++;
		return;
	}
	if (a->fd_unlogged > 0)
		log_warning("accept: %s: admitting new connections by closing others (%u more "
		    "since the last such line)", strerror(err), a->fd_unlogged);
	else
		log_warning("accept: %s: admitting new connections by closing others",
		    strerror(err));
	a->fd_logged_at = now;
	a->fd_unlogged = 0;
}

/*
 * accept failed with EMFILE or ENFILE: give up the reserve descriptor to
 * accept one connection, which is then admitted by a shed.  The fd, or
 * -1 (accepting then waits, longer each time, until a shed frees one).
 */
static int
admit_accept_out_of_fds(struct admit *a, int lfd, int err, struct sockaddr_storage *addr,
    socklen_t *addrlen)
{
	int fd = -1;

	admit_log_out_of_fds(a, err);
	if (a->reserve_fd >= 0) {
		close(a->reserve_fd);
		a->reserve_fd = -1;
		*addrlen = sizeof *addr;
		fd = accept4(lfd, (struct sockaddr *)addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		admit_keep_reserve(a);		/* if the accept did not take it */
	}
	if (fd < 0) {
		admit_pause_accepting(a, a->fd_wait_usec);
		if (a->fd_wait_usec < ADMIT_FD_WAIT_MAX_USEC)
			a->fd_wait_usec *= 2;
	}
	return fd;
}

static void
admit_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct admit		*a = arg;
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	unsigned		 flags = listener_set_conn_flags(a->listeners, lfd);
	bool			 shed;
	int			 fd;

	(void)what;
	if (a->has_pending)
		return;		/* one held at a time (the listeners are paused meanwhile) */
	for (int i = 0; i < ADMIT_ACCEPTS_PER_TURN; i++) {
		/* Each shed in flight holds a descriptor more than max_connections: a few only. */
		if (worker_pool_sheds_in_flight(a->workers) >= ADMIT_SHEDS_IN_FLIGHT) {
			admit_pause_accepting(a, ADMIT_SHED_WAIT_USEC);
			return;
		}
		admit_keep_reserve(a);
		addrlen = sizeof addr;
		fd = accept4(lfd, (struct sockaddr *)&addr, &addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		shed = atomic_load(a->connections) >= a->max_connections;
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE) {
				if ((fd = admit_accept_out_of_fds(a, lfd, errno, &addr, &addrlen)) < 0)
					return;
				shed = true;
			} else {
				log_limited(&admit_accept_rl, LOG_LEVEL_ERROR, "accept: %s",
				    strerror(errno));
				/* Out of memory: back off instead of spinning on the backlog. */
				if (errno == ENOBUFS || errno == ENOMEM)
					admit_pause_accepting(a, 100000);
				return;
			}
		}
		if (!admit_hand_off(a, fd, &addr, addrlen, shed, flags))
			return;
	}
}

/* --- the interface --------------------------------------------------------- */

struct admit *
admit_open(atomic_uint *connections, unsigned max_connections)
{
	struct admit *a;

	if ((a = calloc(1, sizeof *a)) == NULL) {
		log_error("out of memory");
		return NULL;
	}
	a->connections = connections;
	a->max_connections = max_connections;
	a->fd_wait_usec = ADMIT_FD_WAIT_MIN_USEC;
	if ((a->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
		log_warning("cannot keep a descriptor in reserve (/dev/null: %s): running out of "
		    "descriptors will admit new connections more slowly", strerror(errno));
	return a;
}

int
admit_start(struct admit *a, struct event_base *base, struct listener_set *listeners)
{
	a->base = base;
	a->listeners = listeners;
	a->resume_ev = evtimer_new(base, admit_resume_accepting, a);
	return a->resume_ev != NULL ? 0 : -1;
}

void
admit_set_workers(struct admit *a, struct worker_pool *workers)
{
	a->workers = workers;
}

int
admit_watch(struct admit *a)
{
	return listener_set_watch(a->listeners, a->base, admit_on_accept, a);
}

void
admit_set_max_connections(struct admit *a, unsigned max_connections)
{
	a->max_connections = max_connections;
}

/*
 * Connections the kernel has completed but calcd not yet accepted would be
 * reset when their listener closes, after a balancer has already sent them
 * a client's bytes (and so cannot retry elsewhere): accept them now, up to
 * ADMIT_BACKLOG_ROUNDS turns per listener, to be served like the others.
 * The workers still take orders until their stop order comes.
 */
static void
admit_accept_backlog(struct admit *a)
{
	if (a->workers == NULL)
		return;
	for (int round = 0; round < ADMIT_BACKLOG_ROUNDS; round++) {
		for (int tries = 0; a->has_pending && tries < 1000; tries++) {
			if (worker_pool_hand_off(a->workers, a->pending_fd,
			    (struct sockaddr *)&a->pending_addr, a->pending_addrlen, a->pending_shed,
			    a->pending_flags))
				a->has_pending = false;
			else
				usleep(1000);
		}
		if (a->has_pending)
			return;
		listener_set_poll(a->listeners, admit_on_accept, a);
	}
}

void
admit_drain(struct admit *a)
{
	admit_accept_backlog(a);
	if (a->has_pending) {
		close(a->pending_fd);
		atomic_fetch_sub(a->connections, 1);
		a->has_pending = false;
	}
}

void
admit_free(struct admit *a)
{
	if (a == NULL)
		return;
	if (a->resume_ev != NULL)
		event_free(a->resume_ev);
	if (a->reserve_fd >= 0)
		close(a->reserve_fd);
	free(a);
}
