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
#include <sys/types.h>

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
	bool		 tls_after_proxy; /* CONN_TLS with CONN_PROXY: a session once the header is done */
	bool		 handshaking;	/* tls: its handshake is not finished */
	bool		 tls_read_wants_write; /* tls: a read waits for the socket to be writable */
	bool		 tls_write_wants_read; /* tls: a write waits for the socket to be readable */
	struct tls_session *tls;	/* NULL: in the clear */
	size_t		 input_left;	/* finishing: bytes still to read and answer */
	uint64_t	 last_active_ms; /* last byte read or written (monotonic) */
	uint64_t	 message_started_ms; /* when the unfinished message in `in` (or the handshake) began */
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
/* Monotonic coarse milliseconds: the loop pass's (see conn_loop_pass_begin), else read now. */
uint64_t conn_activity_ms(void);
void	conn_set_peer(struct conn *, const struct sockaddr *, socklen_t, bool tracked);
void	conn_set_reading(struct conn *, bool on);
void	conn_set_writing(struct conn *, bool on);
/* Send the replies, then decide whether to read on, wait, or end.  -1 if c is gone. */
int	conn_flush(struct conn *);
/* Decode and answer data[0..len) (lying where input says), keep the rest, flush.  -1 if c is gone. */
int	conn_process(struct conn *, enum conn_input input, const uint8_t *data, size_t len);

/* One read and what follows from it; -1 if c is gone, 0 if nothing came, 1 if data did. */
int	conn_read(struct conn *, int fd);

/* conn_proxy.c: the PROXY protocol header */
int	conn_proxy_input(struct conn *, const uint8_t *data, size_t len);
bool	conn_proxy_overdue(struct conn *, uint64_t now);

/* conn_end.c: the end of a connection */
/* Bytes waiting unread in c's socket (0 if the kernel will not say). */
size_t	conn_socket_queued(const struct conn *);
int	conn_discard(struct conn *);
int	conn_end(struct conn *);

/* conn_tls.c: TLS, where c->tls is set (each -1 return: c is gone, unless said otherwise) */
/* Begin the session, the stream starting with already[0..len). */
int	conn_tls_start(struct conn *, const uint8_t *already, size_t len);
/* A step of the handshake; once done, a read is scheduled at once. */
int	conn_tls_handshake(struct conn *);
#define CONN_TLS_FAILED	(-2)
/* As recv(2) (-1 with EAGAIN: wait); CONN_TLS_FAILED after logging: close c. */
ssize_t	conn_tls_read(struct conn *, uint8_t *buf, size_t len);
/* As conn_write_some: 0 with what was taken in *written, or -1 with errno (c is still open). */
int	conn_tls_write(struct conn *, const uint8_t *data, size_t len, size_t *written);
/* The write event, if TLS wants it (handshake, a read blocked on writing): true if handled. */
bool	conn_tls_on_write(struct conn *);
/* The read event, if TLS wants it (a write blocked on reading): true if handled. */
bool	conn_tls_on_read(struct conn *);
/*
 * After conn_flush set the events: a write blocked on reading waits for
 * readability; plaintext held in the session while c reads: schedule a
 * read (the socket won't).
 */
void	conn_tls_kick(struct conn *);
bool	conn_tls_pending(const struct conn *);
/* For the sweep: close c (true) if its handshake is past tls_handshake_timeout. */
bool	conn_tls_overdue(struct conn *, uint64_t now);
/* close_notify, if the handshake is done and the socket takes it now. */
void	conn_tls_shutdown(struct conn *);
/* conn_close: close_notify where cheap, then free the session. */
void	conn_tls_free(struct conn *);

/* Will no more input be answered?  The peer shut its side, or a stop is finishing c. */
static inline bool
conn_input_done(const struct conn *c)
{
	return c->eof || (c->finishing && c->input_left == 0);
}

#endif
