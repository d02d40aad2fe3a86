/*
 * server: the main thread — the main loop, accepting and handing each
 * connection to a worker, reload on SIGHUP, drain and stop on
 * SIGTERM/SIGINT, and what systemd is told (readiness, status, watchdog).
 * The sockets are listener's, the threads worker's.
 */
#ifndef CALCD_SERVER_H
#define CALCD_SERVER_H

#include "conf.h"

struct server;

/*
 * Re-read the configuration into *out (holding the one in force); 0 if
 * it is good, else -1 after logging every error.
 */
typedef int (*server_reload_fn)(void *arg, struct conf *out);

/*
 * Take the sockets systemd passed, or open every listen address of conf;
 * NULL after logging why (calcd then exits 2).
 */
struct server	*server_open(const struct conf *);
void		 server_set_reload(struct server *, server_reload_fn, void *arg);
struct tls_slot;
/* Where connections on tls listeners take their TLS context (the caller's; outlives s). */
void		 server_set_tls(struct server *, struct tls_slot *);
/* Run until SIGTERM/SIGINT; 0 on a clean shutdown. */
int		 server_run(struct server *);
void		 server_free(struct server *);

/*
 * The descriptors calcd keeps open besides its connections' sockets,
 * with workers worker threads: standard input, output and error; every
 * listening socket there can be (CONF_MAX_LISTEN lines of "*", which is
 * two sockets each, twice over while a reload replaces them); the main
 * loop's (epoll, libevent's signal pipe) and each worker's
 * (WORKER_DESCRIPTORS); syslog's socket; the reserve descriptor; the
 * connections admitted by a shed whose worker has not yet closed
 * another; a connection held while every worker's pipe is full; and a
 * margin for what a reload or sd_notify opens for a moment.
 * max_connections = auto is the open-file limit less this.
 */
unsigned	 server_descriptors_reserved(unsigned workers);

#endif
