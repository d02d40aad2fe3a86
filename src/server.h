/*
 * server: listening sockets, the worker threads (one event loop each) and
 * the hand-off of accepted connections from the acceptor to the workers.
 */
#ifndef CALCD_SERVER_H
#define CALCD_SERVER_H

#include "conf.h"

struct server;

/* Open every listen address of conf; NULL after logging why (exit 2). */
struct server	*server_open(const struct conf *);
/* Run until SIGTERM/SIGINT; 0 on a clean shutdown. */
int		 server_run(struct server *);
void		 server_free(struct server *);

#endif
