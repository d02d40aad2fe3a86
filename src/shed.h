/*
 * shed: admission under pressure — which connection a worker closes when
 * calcd is full and a new one must get in, and the log of it.  A worker
 * keeps a shed_table of its connections in the order of their last
 * completed call, each also on the list of its peer address, with a count
 * per address.  shed_note_* gather the sheds and refusals of every worker
 * into one log line a second, written by shed_log_flush.
 */
#ifndef CALCD_SHED_H
#define CALCD_SHED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* What closing a connection would cost its peer. */
enum shed_class {
	SHED_BUSY,	/* a call waiting or a reply being written: never closed */
	SHED_PARTIAL,	/* part of a message has arrived, nothing to send */
	SHED_IDLE,	/* nothing held either way */
};

struct shed_peer;

/* One connection's place in a shed_table; embedded in the connection. */
struct shed_link {
	struct shed_link	*prev, *next;		/* the table's list, oldest first */
	struct shed_link	*peer_prev, *peer_next;	/* its peer's list, oldest first */
	struct shed_peer	*peer;			/* NULL: no memory for its peer */
	unsigned long long	 stamp;			/* higher: a more recent call */
};

/* A worker's connections; used by that worker's thread only. */
struct shed_table {
	struct shed_link	*head, *tail;
	struct shed_peer	**buckets;		/* peers by address */
	size_t			 nbuckets;		/* a power of 2, or 0 */
	size_t			 npeers;
	struct shed_peer	*heaviest;		/* the peer with the most, or nearly */
	unsigned long long	 clock;
	uint64_t		 seed;			/* of the address hash */
};

typedef enum shed_class	(*shed_classify_fn)(struct shed_link *, void *arg);

void		 shed_table_init(struct shed_table *);
/* Every link must have been untracked. */
void		 shed_table_free(struct shed_table *);

/* A new connection from addr: the newest in the table. */
void		 shed_track(struct shed_table *, struct shed_link *, const struct sockaddr *addr);
/* A call completed on link's connection: it becomes the newest. */
void		 shed_touch(struct shed_table *, struct shed_link *);
/*
 * The connection's peer is addr after all (a PROXY protocol header named
 * the client behind a proxy): counted there from now on, its place in
 * the order kept.
 */
void		 shed_rekey(struct shed_table *, struct shed_link *, const struct sockaddr *addr);
/* The connection is closing. */
void		 shed_untrack(struct shed_table *, struct shed_link *);
/* Connections its peer address has in this table (0 if unknown). */
unsigned	 shed_peer_count(const struct shed_link *);

/*
 * The connection to close to admit a new one, or NULL if every one
 * looked at is busy.  Looks at a bounded number from the oldest end of
 * the table and of the peer with the most connections, and prefers, in
 * this order: the peer with the most connections; idle over partial;
 * the longest without a completed call.  Busy ones passed over are moved
 * to the newest end, so the next look starts past them.  *class is the
 * victim's class.
 */
struct shed_link *shed_pick(struct shed_table *, shed_classify_fn, void *arg,
		    enum shed_class *class);

/* Any thread: victim (of class) was closed to admit a new connection. */
void		 shed_note_shed(const struct shed_link *victim, enum shed_class);
/* Any thread: a new connection from addr was closed, nothing could make room. */
void		 shed_note_refused(const struct sockaddr *addr);
/*
 * Main thread, once a second: one log line for what was noted since
 * the last call, if anything was.
 */
void		 shed_log_flush(void);

#endif
