/*
 * metrics_http: the metrics endpoint — libevent's own HTTP server (evhttp)
 * on listening sockets it is given, in the main thread's loop.  GET or
 * HEAD /metrics answers with the text a render callback writes; any other
 * path is a 404.  Knows nothing of what the metrics are.
 */
#ifndef CALCD_METRICS_HTTP_H
#define CALCD_METRICS_HTTP_H

#include "buf.h"

/*
 * The most connections the endpoint keeps open at once; one more is
 * closed as soon as it is accepted.  A Prometheus server scrapes over one
 * connection per target, so 8 holds an HA pair, calcctl stats and an
 * operator's curl with room to spare, and it is what calcd's descriptor
 * budget (server_descriptors_reserved) already keeps for scrapes.
 */
#define METRICS_HTTP_MAX_CONNECTIONS	8

struct event_base;
struct metrics_http;

/* Write the exposition into out; -1 if it can't (the scrape gets a 500). */
typedef int (*metrics_http_render_fn)(void *arg, struct buf *out);
/* A connection was closed unserved: METRICS_HTTP_MAX_CONNECTIONS were open. */
typedef void (*metrics_http_refused_fn)(void *arg);

/*
 * Serve on the listening sockets fds[0..count) (bound, listening,
 * non-blocking; the endpoint owns and closes them); render and refused
 * are called with arg.  NULL after logging why; the sockets are closed
 * then too.
 */
struct metrics_http	*metrics_http_open(struct event_base *, const int *fds, unsigned count,
			    metrics_http_render_fn render, metrics_http_refused_fn refused,
			    void *arg);
void			 metrics_http_free(struct metrics_http *);

#endif
