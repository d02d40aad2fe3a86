/*
 * listener: calcd's listening sockets — opened from the listen lines or
 * passed by systemd — watched in the main loop, paused and resumed, and
 * switched to the listen lines of a reloaded configuration.
 */
#ifndef CALCD_LISTENER_H
#define CALCD_LISTENER_H

#include <stddef.h>

#include <event2/event.h>

#include "conf.h"

struct listener_set;

/*
 * Take the sockets systemd passed, or open every listen line of conf
 * (nothing is accepted until listener_set_watch); NULL after logging why.
 */
struct listener_set	*listener_set_open(const struct conf *);

/* Call on_accept(fd, EV_READ, arg) in base's loop when a socket has a peer waiting; -1 after logging. */
int		 listener_set_watch(struct listener_set *, struct event_base *,
		    event_callback_fn on_accept, void *arg);
/*
 * Call on_accept(fd, EV_READ, arg) once for every open socket, watched or
 * not: at a stop, to take in what waits in the backlogs before they close.
 */
void		 listener_set_poll(struct listener_set *, event_callback_fn on_accept, void *arg);
/* Stop and start watching every socket (the backlog keeps what arrives meanwhile). */
void		 listener_set_pause(struct listener_set *);
void		 listener_set_resume(struct listener_set *);

/*
 * A reload: open the listen lines of next that are new, close the sockets
 * whose line is gone.  A new socket may take the port of one going away.
 * A line that cannot be opened is logged and any socket it would have
 * replaced stays open.  A line that stays takes its new options (proxy, tls)
 * for the connections accepted from then on.  Returns how many lines
 * could not be opened.  Sockets from systemd are kept; only their
 * options follow the lines with their addresses.
 */
unsigned	 listener_set_update(struct listener_set *, const struct conf *next);

/* The CONN_ flags (conn.h) for connections accepted on socket fd: CONN_PROXY, CONN_TLS as marked. */
unsigned	 listener_set_conn_flags(const struct listener_set *, int fd);

/* "0.0.0.0:9090, [::]:9090" (truncated to len), or "" for none. */
void		 listener_set_describe(const struct listener_set *, char *out, size_t len);

/*
 * Bound, listening, non-blocking sockets for every address of one line,
 * apart from any set (the metrics endpoint's): how many, or -1 after
 * logging why, prefixed with what, with none left open.
 */
int		 listener_open_sockets(const struct conf_listen *, const char *what, int *fds,
		    unsigned max);

/* Close every socket: no new connections from here on. */
void		 listener_set_close(struct listener_set *);
void		 listener_set_free(struct listener_set *);

#endif
