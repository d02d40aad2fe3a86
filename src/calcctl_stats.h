/*
 * calcctl_stats: `calcctl stats` — fetches calcd's metrics endpoint over
 * HTTP, reads the Prometheus text calcd writes, and prints a short human
 * summary of the change between two scrapes (calls/s by method, errors,
 * connections, p50/p99 from the duration histogram), once or every second.
 */
#ifndef CALCD_CALCCTL_STATS_H
#define CALCD_CALCCTL_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CALCCTL_STATS_METHODS	16
#define CALCCTL_STATS_BUCKETS	32
#define CALCCTL_STATS_NAME_LEN	48
#define CALCCTL_STATS_REASONS	16

struct calcctl_stats_method {
	char	 name[CALCCTL_STATS_NAME_LEN];
	double	 calls[3];			/* ok, exception, error */
	double	 bucket_le[CALCCTL_STATS_BUCKETS];	/* upper bounds, +Inf last */
	double	 bucket_count[CALCCTL_STATS_BUCKETS];	/* cumulative */
	unsigned bucket_len;
};

/* One scrape, as calcctl needs it. */
struct calcctl_stats {
	char				version[CALCCTL_STATS_NAME_LEN];
	struct calcctl_stats_method	methods[CALCCTL_STATS_METHODS];
	unsigned			method_count;
	double				connections_open, connections_max, accepted;
	char				close_reason[CALCCTL_STATS_REASONS][CALCCTL_STATS_NAME_LEN];
	double				closed[CALCCTL_STATS_REASONS];
	unsigned			reason_count;
	double				bytes_received, bytes_sent;
	double				cpu_seconds, resident_bytes, start_time;
};

/* Where to scrape. */
struct calcctl_stats_target {
	const char	*host;
	const char	*port;
	const char	*where;		/* "host:port" for messages */
	int64_t		 timeout_ms;
	bool		 verbose;
};

/*
 * `calcctl stats`: scrape twice a second apart and print the change; with
 * watch, go on every second until SIGINT.  The exit status: 0, or 2 when
 * the endpoint can't be scraped.
 */
int	calcctl_stats_run(const struct calcctl_stats_target *, bool watch);

/* Read the exposition text[0..len) into s; -1 with why if it isn't calcd's. */
int	calcctl_stats_parse(const char *text, size_t len, struct calcctl_stats *s,
	    char *why, size_t why_len);

/*
 * Print what changed from before to now over seconds: calls/s by method
 * with their outcomes and p50/p99, errors, connections.  before may be
 * NULL (then totals since calcd started are shown).
 */
void	calcctl_stats_print(FILE *, const char *where, const struct calcctl_stats *before,
	    const struct calcctl_stats *now, double seconds);

/* The q-quantile (0..1) of calls counted between two cumulative histograms; -1 if none. */
double	calcctl_stats_quantile(const struct calcctl_stats_method *before,
	    const struct calcctl_stats_method *now, double q);

#endif
