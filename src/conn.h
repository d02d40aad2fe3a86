/*
 * conn: one client connection inside a worker's event loop — its socket,
 * its bounded input and output backlogs, its idle timer, and the loop of
 * read, detect, decode, dispatch and write that serves it.
 */
#ifndef CALCD_CONN_H
#define CALCD_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "buf.h"
#include "dispatch.h"

struct event_base;
struct conn;

/* What a worker gives every connection it owns; the connections share it. */
struct conn_env {
	struct event_base	*base;
	uint8_t			*scratch;		/* each read lands here first */
	size_t			 scratch_len;
	struct buf		 reply;			/* replies to one read, sent with one write */
	struct dispatch_limits	 limits;
	size_t			 max_output_buffer;	/* stop reading a peer past this */
	const struct timeval	*idle_timeout;		/* NULL: never */
	struct conn		*head;			/* live connections */
	unsigned		 count;
	unsigned long long	 requests;		/* messages served */
	void			(*on_close)(void *arg);
	void			*on_close_arg;
};

/* Take over fd (non-blocking, connected); NULL after closing it on failure. */
struct conn	*conn_new(struct conn_env *, int fd, const struct sockaddr *, socklen_t);
void		 conn_close(struct conn *);
void		 conn_close_all(struct conn_env *);

/* "1.2.3.4:5678" / "[::1]:5678" for logs. */
void		 conn_format_address(const struct sockaddr *, char *out, size_t len);

#endif
