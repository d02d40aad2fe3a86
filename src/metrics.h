/*
 * metrics: calcd's counters and their Prometheus text exposition.  Each
 * thread that counts owns one struct metrics_block and is its only
 * writer (relaxed loads and stores, no locked instruction, no lock); a
 * scrape reads every block and sums them.  Knows nothing of sockets or
 * HTTP: metrics_http serves the text this module writes.
 */
#ifndef CALCD_METRICS_H
#define CALCD_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* How a call ended, as calcd_calls_total{outcome} names it. */
enum metrics_outcome {
	METRICS_OK = 0,		/* a result, or a oneway call */
	METRICS_EXCEPTION,	/* a declared IDL exception (InvalidOperation) */
	METRICS_ERROR,		/* a TApplicationException */
	METRICS_OUTCOMES
};

/* Methods: the dispatch table's rows, then one for names calcd doesn't serve. */
#define METRICS_MAX_METHODS	16

enum metrics_transport {
	METRICS_BUFFERED = 0,
	METRICS_FRAMED,
	METRICS_HEADER,
	METRICS_TRANSPORTS
};

enum metrics_protocol {
	METRICS_BINARY = 0,
	METRICS_COMPACT,
	METRICS_PROTOCOLS
};

/* Why a connection was closed: calcd_connections_closed_total{reason}. */
enum metrics_close_reason {
	METRICS_CLOSE_CLIENT = 0,	/* the peer closed it (or reset it) */
	METRICS_CLOSE_IDLE_TIMEOUT,
	METRICS_CLOSE_MESSAGE_TIMEOUT,
	METRICS_CLOSE_PROTOCOL_ERROR,	/* bytes that are not a valid Thrift message */
	METRICS_CLOSE_LIMIT,		/* over max_message_size, an output or input limit */
	METRICS_CLOSE_SHED,		/* closed to admit a new connection under pressure */
	METRICS_CLOSE_SHUTDOWN,		/* still open at shutdown_timeout */
	METRICS_CLOSE_ERROR,		/* a read or write error, out of memory */
	METRICS_CLOSE_TLS_HANDSHAKE,	/* its TLS handshake failed or took too long */
	METRICS_CLOSE_REASONS
};

/* Why TLS handshakes failed: enum tls_failure's values, labelled by tls_failure_name. */
#define METRICS_TLS_FAILURES	12

/* Upper bounds of calcd_call_duration_seconds, in nanoseconds (+Inf implied). */
#define METRICS_BUCKETS		18

typedef _Atomic uint64_t metrics_counter;

/* One thread's counters; only that thread writes them. */
struct metrics_block {
	metrics_counter	calls[METRICS_MAX_METHODS][METRICS_OUTCOMES];	/* [..][OK] unused */
	metrics_counter	duration_buckets[METRICS_MAX_METHODS][METRICS_BUCKETS + 1];
	metrics_counter	duration_sum_ns[METRICS_MAX_METHODS];
	metrics_counter	requests[METRICS_TRANSPORTS][METRICS_PROTOCOLS];
	metrics_counter	accepted;
	metrics_counter	closed[METRICS_CLOSE_REASONS];
	metrics_counter	bytes_received;
	metrics_counter	bytes_sent;
	metrics_counter	reloads_ok;
	metrics_counter	reloads_failed;
	metrics_counter	metrics_refused;	/* metrics_listen connections over its cap */
	metrics_counter	tls_handshakes;		/* completed */
	metrics_counter	tls_handshake_failures[METRICS_TLS_FAILURES];
};

extern const uint64_t metrics_bucket_ns[METRICS_BUCKETS];

/* Add n to a counter only this thread writes: a plain load, add and store. */
static inline void
metrics_add(metrics_counter *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	    memory_order_relaxed);
}

static inline uint64_t
metrics_read(const metrics_counter *c)
{
	return atomic_load_explicit((metrics_counter *)c, memory_order_relaxed);
}

/* One call of method (its row in the method table), finished in ns nanoseconds. */
static inline void
metrics_count_call(struct metrics_block *b, unsigned method, enum metrics_outcome outcome,
    uint64_t ns)
{
	unsigned bucket = 0;

	if (method >= METRICS_MAX_METHODS)
		method = METRICS_MAX_METHODS - 1;
	while (bucket < METRICS_BUCKETS && ns > metrics_bucket_ns[bucket])
		bucket++;
	/* Most calls are ok: their count is the histogram's, less the others. */
	if (outcome != METRICS_OK)
		metrics_add(&b->calls[method][outcome], 1);
	metrics_add(&b->duration_buckets[method][bucket], 1);
	metrics_add(&b->duration_sum_ns[method], ns);
}

/* What a scrape shows besides the blocks' sums. */
struct metrics_view {
	const char			*version;		/* calcd_build_info{version} */
	const char *const		*method_names;		/* labels, method_count of them */
	unsigned			 method_count;
	const struct metrics_block *const *blocks;
	unsigned			 block_count;
	uint64_t			 connections_open;	/* calcd_connections_open */
	uint64_t			 max_connections;	/* calcd_connections_max */
};

/*
 * Append the Prometheus text exposition (format 0.0.4) of view, and the
 * process_* metrics of this process, to out.  -1 if out's limit was hit.
 */
int	metrics_format(const struct metrics_view *, struct buf *out);

#endif
