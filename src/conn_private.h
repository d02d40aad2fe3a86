/*
 * conn_private: what the files of the conn module share — struct conn
 * and the steps each file takes from the others.  Only conn*.c include it.
 */
#ifndef CALCD_CONN_PRIVATE_H
#define CALCD_CONN_PRIVATE_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "conn.h"
#include "log.h"
#include "transport.h"

#define CONN_PEER_LEN	(INET6_ADDRSTRLEN + 8)
#define CONN_METHOD_LEN	64	/* bytes of a peer's method name in a log line */

/* Where conn_process's input lies. */
enum conn_input {
	CONN_INPUT_SCRATCH,	/* the worker's scratch buffer: the bytes of one read */
	CONN_INPUT_KEPT,	/* the connection's own buffer, c->in */
};

struct conn {
	struct conn_loop	*env;
	struct conn	*prev, *next;
	int		 fd;
	struct event	 read_ev;
	struct event	 write_ev;
	bool		 reading;	/* read_ev is added */
	bool		 writing;	/* write_ev is added */
	bool		 paused;	/* complete input waits for the output to drain */
	bool		 eof;		/* the peer shut its sending side */
	bool		 proxy_header;	/* a PROXY header must come before anything else */
	bool		 finishing;	/* past shutdown_timeout: takes in input_left more bytes */
	bool		 lingering;	/* sending side shut; input is dropped until EOF */
	size_t		 input_left;	/* finishing: bytes still to read and answer */
	uint64_t	 last_active_ms; /* last byte read or written (monotonic) */
	uint64_t	 message_started_ms; /* when the unfinished message in `in` began */
	struct transport transport;
	struct buf	 in;		/* input not yet decoded */
	size_t		 need;		/* don't decode again until in.len reaches this */
	struct buf	 out;		/* replies the socket hasn't taken yet */
	struct sockaddr_storage peer_addr; /* the peer: the socket's, or the PROXY header's source */
	socklen_t	 peer_addrlen;
	char		 peer[CONN_PEER_LEN];
	struct shed_link shed;		/* its place in env->shed */
};

/* conn.c */
extern struct log_ratelimit conn_error_rl;
void	conn_set_peer(struct conn *, const struct sockaddr *, socklen_t, bool tracked);
void	conn_set_reading(struct conn *, bool on);
void	conn_set_writing(struct conn *, bool on);
/* Send the replies, then decide whether to read on, wait, or end.  -1 if c is gone. */
int	conn_flush(struct conn *);
/* Decode and answer data[0..len) (lying where input says), keep the rest, flush.  -1 if c is gone. */
int	conn_process(struct conn *, enum conn_input input, const uint8_t *data, size_t len);

/* conn_proxy.c: the PROXY protocol header */
int	conn_proxy_input(struct conn *, const uint8_t *data, size_t len);
bool	conn_proxy_overdue(struct conn *, uint64_t now);

/* conn_end.c: the end of a connection */
int	conn_discard(struct conn *);
int	conn_end(struct conn *);

/* Will no more input be answered?  The peer shut its side, or a stop is finishing c. */
static inline bool
conn_input_done(const struct conn *c)
{
	return c->eof || (c->finishing && c->input_left == 0);
}

#endif
