/*
 * conn: one client connection inside a worker's event loop — its socket,
 * its PROXY protocol header (on listeners marked "proxy"), its bounded
 * input and output backlogs, its timeouts (checked by one sweep per
 * worker), the loop of read, detect, request and write that serves it,
 * and its end: a plain close, or at shutdown a lingering one that never
 * resets replies already sent.
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
struct tls_slot;

/* The limits a reload may change; copied into each worker's env. */
struct conn_limits {
	struct dispatch_limits	dispatch;
	size_t			max_output_buffer;	/* stop reading a peer past this */
	uint64_t		idle_timeout_ms;	/* 0: never */
	uint64_t		message_timeout_ms;	/* 0: never */
	bool			count_metrics;		/* metrics_listen is set */
	uint64_t		tls_handshake_timeout_ms; /* from the accept (or PROXY header) */
	struct tls_slot		*tls;			/* the context TLS handshakes take */
};

/* A worker loop's connections and what they share: its event base, scratch and reply buffers, limits. */
struct conn_loop {
	struct event_base	*base;
	uint8_t			*scratch;		/* each read lands here first */
	size_t			 scratch_len;
	struct buf		 reply;			/* replies to one read, sent with one write */
	struct conn_limits	 limits;
	struct event		*sweep_ev;		/* checks every connection's timeouts */
	bool			 draining;		/* shutting down: serving what is open */
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
int		 conn_loop_init(struct conn_loop *, struct event_base *, struct metrics_block *metrics,
		    const struct conn_limits *);
void		 conn_loop_free(struct conn_loop *);
/*
 * New limits, for every connection: from its next message, read and write
 * on, and from the next timeout sweep.
 */
void		 conn_loop_set_limits(struct conn_loop *, const struct conn_limits *);
/*
 * Around each pass of the thread's event loop (one wait for events and
 * the callbacks it makes): inside one, the connections' activity clock
 * is read once, at the first recv or send, and shared by the rest.
 */
void		 conn_loop_pass_begin(void);
void		 conn_loop_pass_end(void);

/* How a connection came in: flags for conn_new, from its listener. */
#define CONN_PROXY	0x1	/* a PROXY protocol header (v1 or v2) must come first */
#define CONN_TLS	0x2	/* then a TLS handshake, and TLS from there on */

/*
 * How long a connection may take, once shutdown_timeout is over, to send
 * the replies to what it had received and then linger (its sending side
 * shut, input read and dropped) until the peer closes.  The last step of
 * a stop: calcd exits at most this long after shutdown_timeout.
 */
#define CONN_LINGER_MS	2000

/*
 * Take over fd (non-blocking, connected), from the peer at sa, with
 * CONN_ flags; NULL after closing it on failure.
 */
struct conn	*conn_new(struct conn_loop *, int fd, const struct sockaddr *, socklen_t,
		    unsigned flags);
/* Close c, counted under reason (calcd_connections_closed_total). */
void		 conn_close(struct conn *, enum metrics_close_reason);
/* Close every connection as it is (the linger bound is over, or the worker ends). */
void		 conn_close_all(struct conn_loop *);
/*
 * Shutting down (env->draining is set): every connection is served as
 * usual until its peer closes it; nothing is closed for being idle.
 */
void		 conn_drain_all(struct conn_loop *);
/*
 * shutdown_timeout is over: every connection answers the calls it has
 * received — read already, or waiting in its socket now — sends the
 * replies, shuts its sending side, and reads and drops what comes until
 * the peer closes (so the kernel never resets replies not yet read).
 * Connections close themselves as that ends; conn_close_all ends the rest.
 */
void		 conn_finish_all(struct conn_loop *);

/*
 * calcd is full and a new connection is to be admitted: close the
 * connection the shed module picks (idle or partial, never busy), count
 * and log it.  false if there was none to close.
 */
bool		 conn_shed_one(struct conn_loop *);
/*
 * calcd is full and nothing could be closed to make room: close fd, a
 * connection accepted from sa, and count and log it as refused.
 */
void		 conn_refuse(struct conn_loop *, int fd, const struct sockaddr *);

/* "1.2.3.4:5678" / "[::1]:5678" for logs. */
void		 conn_format_address(const struct sockaddr *, char *out, size_t len);

#endif
