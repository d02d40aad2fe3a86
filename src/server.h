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
/* Run until SIGTERM/SIGINT; 0 on a clean shutdown. */
int		 server_run(struct server *);
void		 server_free(struct server *);

#endif
