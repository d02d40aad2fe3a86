/*
 * conn: one client connection inside a worker's event loop — its socket,
 * its bounded input and output backlogs, its timeouts (checked by one
 * sweep per worker), and the loop of read, detect, request and write
 * that serves it.
 */
#ifndef CALCD_CONN_H
#define CALCD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "buf.h"
#include "metrics.h"
#include "dispatch.h"
#include "shed.h"

struct event;
struct event_base;
struct conn;

/* The limits a reload may change; copied into each worker's env. */
struct conn_limits {
	struct dispatch_limits	dispatch;
	size_t			max_output_buffer;	/* stop reading a peer past this */
	uint64_t		idle_timeout_ms;	/* 0: never */
	uint64_t		message_timeout_ms;	/* 0: never */
	bool			count_metrics;		/* metrics_listen is set */
};

/* What a worker gives every connection it owns; the connections share it. */
struct conn_env {
	struct event_base	*base;
	uint8_t			*scratch;		/* each read lands here first */
	size_t			 scratch_len;
	struct buf		 reply;			/* replies to one read, sent with one write */
	struct conn_limits	 limits;
	struct event		*sweep_ev;		/* checks every connection's timeouts */
	bool			 draining;		/* shutting down: close connections once idle */
	struct conn		*head;			/* live connections */
	struct shed_table	 shed;			/* the same, oldest call first, by peer */
	unsigned		 count;
	unsigned long long	 requests;		/* messages served */
	struct metrics_block	*metrics_block;		/* the worker's counters */
	struct metrics_block	*metrics;		/* the same, or NULL: not counting */
	void			(*on_close)(void *arg);
	void			*on_close_arg;
};

/*
 * Set up env (buffers, the timeout sweep) for the given limits; it counts
 * into metrics, its worker's block, while limits say so.  -1 if out of memory.
 */
int		 conn_env_init(struct conn_env *, struct event_base *, struct metrics_block *metrics,
		    const struct conn_limits *);
void		 conn_env_free(struct conn_env *);
/*
 * New limits, for every connection: from its next message, read and write
 * on, and from the next timeout sweep.
 */
void		 conn_env_set_limits(struct conn_env *, const struct conn_limits *);

/* Take over fd (non-blocking, connected); NULL after closing it on failure. */
struct conn	*conn_new(struct conn_env *, int fd, const struct sockaddr *, socklen_t);
/* Close c, counted under reason (calcd_connections_closed_total). */
void		 conn_close(struct conn *, enum metrics_close_reason);
/* Close every connection (shutdown_timeout is over, or the worker ends). */
void		 conn_close_all(struct conn_env *);
/*
 * Shutting down: answer what every connection has sent, then close each
 * one once it has nothing left to send or finish.  env->draining is set.
 */
void		 conn_drain_all(struct conn_env *);

/*
 * calcd is full and a new connection is to be admitted: close the
 * connection the shed module picks (idle or partial, never busy), count
 * and log it.  false if there was none to close.
 */
bool		 conn_shed_one(struct conn_env *);
/*
 * calcd is full and nothing could be closed to make room: close fd, a
 * connection accepted from sa, and count and log it as refused.
 */
void		 conn_refuse(struct conn_env *, int fd, const struct sockaddr *);

/* "1.2.3.4:5678" / "[::1]:5678" for logs. */
void		 conn_format_address(const struct sockaddr *, char *out, size_t len);

#endif
