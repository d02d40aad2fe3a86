/*
 * admit: admission on the main thread — accepting on the listeners,
 * admitting past max_connections or out of descriptors by a shed, and
 * handing each connection to a worker (holding one while every worker's
 * pipe is full).  At a stop, what already waits in the backlogs is taken
 * in before the listeners close.  The sockets are listener's, the
 * threads worker's; server says when each step happens.
 */
#ifndef CALCD_ADMIT_H
#define CALCD_ADMIT_H

#include <stdatomic.h>

struct event_base;
struct listener_set;
struct worker_pool;

/* Admitted by a shed, not yet made room for: at most this many at once. */
#define ADMIT_SHEDS_IN_FLIGHT	32
/*
 * The descriptors admission holds besides the connections it counts:
 * the reserve, one connection held while every worker's pipe is full,
 * and the sheds in flight.
 */
#define ADMIT_DESCRIPTORS	(1 + 1 + ADMIT_SHEDS_IN_FLIGHT)

struct admit;

/*
 * Admission counting open connections in *connections (which the workers
 * decrement) against max_connections, with a descriptor in reserve
 * (/dev/null; a warning if it can't be had).  NULL if out of memory,
 * after logging it.
 */
struct admit	*admit_open(atomic_uint *connections, unsigned max_connections);
/* Accept from listeners in base's loop (once admit_watch is called); -1 after logging. */
int		 admit_start(struct admit *, struct event_base *, struct listener_set *);
/* The workers connections go to, once they run. */
void		 admit_set_workers(struct admit *, struct worker_pool *);
/* Watch the listeners; -1 after logging. */
int		 admit_watch(struct admit *);
/* A reload: the max_connections new connections are counted against. */
void		 admit_set_max_connections(struct admit *, unsigned);
/* Once a second: take the reserve descriptor back if it was given up and one is free. */
void		 admit_keep_reserve(struct admit *);
/*
 * A stop: hand what waits in the listeners' backlogs to the workers (a
 * bounded number of turns), then close the connection still held, if any.
 */
void		 admit_drain(struct admit *);
void		 admit_free(struct admit *);

#endif
