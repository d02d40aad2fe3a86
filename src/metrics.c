/*
 * metrics: sums the per-thread counter blocks and writes them, with the
 * standard process_* metrics read from /proc, in the Prometheus text
 * exposition format 0.0.4.  Names and labels are part of calcd's
 * interface (dashboards and etc/calcd-alerts.yml rely on them): change
 * them only with the docs in calcd(8).
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "metrics.h"
#include "tls.h"

_Static_assert(METRICS_TLS_FAILURES == TLS_FAIL_COUNT, "one counter per enum tls_failure");

/* 1 µs .. 1 s: a call takes microseconds; the top buckets catch stalls. */
const uint64_t metrics_bucket_ns[METRICS_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 25000000, 50000000, 100000000,
	250000000, 1000000000,
};

static const char *const metrics_outcome_names[METRICS_OUTCOMES] = {
	[METRICS_OK] = "ok",
	[METRICS_EXCEPTION] = "exception",
	[METRICS_ERROR] = "error",
};

static const char *const metrics_transport_names[METRICS_TRANSPORTS] = {
	[METRICS_BUFFERED] = "buffered",
	[METRICS_FRAMED] = "framed",
	[METRICS_HEADER] = "header",
};

static const char *const metrics_protocol_names[METRICS_PROTOCOLS] = {
	[METRICS_BINARY] = "binary",
	[METRICS_COMPACT] = "compact",
};

static const char *const metrics_close_names[METRICS_CLOSE_REASONS] = {
	[METRICS_CLOSE_CLIENT] = "client",
	[METRICS_CLOSE_IDLE_TIMEOUT] = "idle_timeout",
	[METRICS_CLOSE_MESSAGE_TIMEOUT] = "message_timeout",
	[METRICS_CLOSE_PROTOCOL_ERROR] = "protocol_error",
	[METRICS_CLOSE_LIMIT] = "limit",
	[METRICS_CLOSE_SHED] = "shed",
	[METRICS_CLOSE_SHUTDOWN] = "shutdown",
	[METRICS_CLOSE_ERROR] = "error",
	[METRICS_CLOSE_TLS_HANDSHAKE] = "tls_handshake",
};

/* A formatter that remembers the first failure, so callers check once. */
struct metrics_out {
	struct buf	*buf;
	int		 failed;
};

static void	metrics_printf(struct metrics_out *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
metrics_printf(struct metrics_out *o, const char *fmt, ...)
{
	char	line[512];
	va_list	ap;
	int	n;

	if (o->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof line || buf_append(o->buf, line, (size_t)n) != 0)
		o->failed = 1;
}

static void
metrics_header(struct metrics_out *o, const char *name, const char *type, const char *help)
{
	metrics_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Every block's counters summed into total (the block is nothing but counters). */
static void
metrics_total(const struct metrics_view *v, struct metrics_block *total)
{
	const size_t	 count = sizeof *total / sizeof(metrics_counter);
	metrics_counter	*sum = (metrics_counter *)total;

	memset(total, 0, sizeof *total);
	for (unsigned b = 0; b < v->block_count; b++) {
		const metrics_counter *c = (const metrics_counter *)v->blocks[b];

		for (size_t i = 0; i < count; i++)
			metrics_add(&sum[i], metrics_read(&c[i]));
	}
}

/* Seconds as Prometheus wants them: shortest text that reads back the same. */
static void
metrics_format_seconds(char *out, size_t len, uint64_t ns)
{
	(void)snprintf(out, len, "%" PRIu64 ".%09" PRIu64, ns / 1000000000u, ns % 1000000000u);
}

static void
metrics_format_calls(struct metrics_out *o, const struct metrics_view *v,
    const struct metrics_block *sum)
{
	metrics_header(o, "calcd_calls_total", "counter",
	    "Calls answered, by method and outcome (ok, exception: a declared IDL exception, "
	    "error: a TApplicationException).");
	for (unsigned m = 0; m < v->method_count; m++) {
		uint64_t all = 0, others = 0;

		for (unsigned b = 0; b <= METRICS_BUCKETS; b++)
			all += metrics_read(&sum->duration_buckets[m][b]);
		for (unsigned k = 0; k < METRICS_OUTCOMES; k++) {
			uint64_t n = metrics_read(&sum->calls[m][k]);

			if (k == METRICS_OK)
				continue;
			others += n;
			metrics_printf(o, "calcd_calls_total{method=\"%s\",outcome=\"%s\"} %" PRIu64
			    "\n", v->method_names[m], metrics_outcome_names[k], n);
		}
		/* Every call is in the histogram; ok ones are only there. */
		metrics_printf(o, "calcd_calls_total{method=\"%s\",outcome=\"ok\"} %" PRIu64 "\n",
		    v->method_names[m], all >= others ? all - others : 0);
	}

	metrics_header(o, "calcd_call_duration_seconds", "histogram",
	    "Time from a call's message being complete to its reply being queued.");
	for (unsigned m = 0; m < v->method_count; m++) {
		uint64_t	cumulative = 0;
		char		bound[32];

		for (unsigned b = 0; b <= METRICS_BUCKETS; b++) {
			cumulative += metrics_read(&sum->duration_buckets[m][b]);
			if (b < METRICS_BUCKETS)
				metrics_format_seconds(bound, sizeof bound, metrics_bucket_ns[b]);
			else
				(void)snprintf(bound, sizeof bound, "+Inf");
			metrics_printf(o, "calcd_call_duration_seconds_bucket{method=\"%s\","
			    "le=\"%s\"} %" PRIu64 "\n", v->method_names[m], bound, cumulative);
		}
		metrics_format_seconds(bound, sizeof bound, metrics_read(&sum->duration_sum_ns[m]));
		metrics_printf(o, "calcd_call_duration_seconds_sum{method=\"%s\"} %s\n",
		    v->method_names[m], bound);
		metrics_printf(o, "calcd_call_duration_seconds_count{method=\"%s\"} %" PRIu64 "\n",
		    v->method_names[m], cumulative);
	}

	metrics_header(o, "calcd_requests_total", "counter",
	    "Messages received, by transport and protocol.");
	for (unsigned t = 0; t < METRICS_TRANSPORTS; t++)
		for (unsigned p = 0; p < METRICS_PROTOCOLS; p++)
			metrics_printf(o, "calcd_requests_total{transport=\"%s\",protocol=\"%s\"} %"
			    PRIu64 "\n", metrics_transport_names[t], metrics_protocol_names[p],
			    metrics_read(&sum->requests[t][p]));
}

static void
metrics_format_connections(struct metrics_out *o, const struct metrics_view *v,
    const struct metrics_block *sum)
{
	metrics_header(o, "calcd_connections_open", "gauge", "Client connections open now.");
	metrics_printf(o, "calcd_connections_open %" PRIu64 "\n", v->connections_open);
	metrics_header(o, "calcd_connections_max", "gauge",
	    "max_connections: the most client connections calcd keeps open at once.");
	metrics_printf(o, "calcd_connections_max %" PRIu64 "\n", v->max_connections);
	metrics_header(o, "calcd_connections_accepted_total", "counter",
	    "Client connections accepted.");
	metrics_printf(o, "calcd_connections_accepted_total %" PRIu64 "\n",
	    metrics_read(&sum->accepted));
	metrics_header(o, "calcd_connections_closed_total", "counter",
	    "Client connections closed, by reason.");
	for (unsigned r = 0; r < METRICS_CLOSE_REASONS; r++)
		metrics_printf(o, "calcd_connections_closed_total{reason=\"%s\"} %" PRIu64 "\n",
		    metrics_close_names[r], metrics_read(&sum->closed[r]));
	metrics_header(o, "calcd_bytes_received_total", "counter",
	    "Bytes read from client connections.");
	metrics_printf(o, "calcd_bytes_received_total %" PRIu64 "\n",
	    metrics_read(&sum->bytes_received));
	metrics_header(o, "calcd_bytes_sent_total", "counter",
	    "Bytes written to client connections.");
	metrics_printf(o, "calcd_bytes_sent_total %" PRIu64 "\n", metrics_read(&sum->bytes_sent));
	metrics_header(o, "calcd_tls_handshakes_total", "counter",
	    "TLS handshakes completed (on listen lines that say tls).");
	metrics_printf(o, "calcd_tls_handshakes_total %" PRIu64 "\n",
	    metrics_read(&sum->tls_handshakes));
	metrics_header(o, "calcd_tls_handshake_failures_total", "counter",
	    "TLS handshakes that failed, by reason; each closed its connection.");
	for (unsigned r = TLS_FAIL_NONE + 1; r < METRICS_TLS_FAILURES; r++)
		metrics_printf(o, "calcd_tls_handshake_failures_total{reason=\"%s\"} %" PRIu64 "\n",
		    tls_failure_name((enum tls_failure)r),
		    metrics_read(&sum->tls_handshake_failures[r]));
	metrics_header(o, "calcd_config_reloads_total", "counter",
	    "Configuration reloads (SIGHUP), by result.");
	metrics_printf(o, "calcd_config_reloads_total{result=\"success\"} %" PRIu64 "\n",
	    metrics_read(&sum->reloads_ok));
	metrics_printf(o, "calcd_config_reloads_total{result=\"failure\"} %" PRIu64 "\n",
	    metrics_read(&sum->reloads_failed));
	metrics_header(o, "calcd_metrics_connections_refused_total", "counter",
	    "Connections to metrics_listen closed unserved: as many as it keeps were open.");
	metrics_printf(o, "calcd_metrics_connections_refused_total %" PRIu64 "\n",
	    metrics_read(&sum->metrics_refused));
	metrics_header(o, "calcd_build_info", "gauge", "calcd's version, as a label; always 1.");
	metrics_printf(o, "calcd_build_info{version=\"%s\"} 1\n", v->version);
}

/* Fields 14, 15 (utime, stime), 22 (starttime) and 24 (rss) of /proc/self/stat. */
static int
metrics_read_stat(uint64_t *ticks_cpu, uint64_t *ticks_start, uint64_t *rss_pages)
{
	char			 text[1024], *p;
	FILE			*f;
	size_t			 n;
	unsigned long long	 value;
	int			 field;

	if ((f = fopen("/proc/self/stat", "re")) == NULL)
		return -1;
	n = fread(text, 1, sizeof text - 1, f);
	(void)fclose(f);
	text[n] = '\0';
	/* The command name may hold spaces and parentheses: start after the last ')'. */
	if ((p = strrchr(text, ')')) == NULL)
		return -1;
	*ticks_cpu = *ticks_start = *rss_pages = 0;
	for (field = 3, p++; *p != '\0' && field <= 24; field++) {
		while (*p == ' ')
			p++;
		value = strtoull(p, &p, 10);
		if (field == 14 || field == 15)
			*ticks_cpu += value;
		else if (field == 22)
			*ticks_start = value;
		else if (field == 24)
			*rss_pages = value;
		while (*p != ' ' && *p != '\0')
			p++;
	}
	return field > 24 ? 0 : -1;
}

/* The boot time, from /proc/stat's btime line; 0 if unknown. */
static uint64_t
metrics_boot_time(void)
{
	char			 line[256];
	unsigned long long	 btime = 0;
	FILE			*f;

	if ((f = fopen("/proc/stat", "re")) == NULL)
		return 0;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "btime ", 6) == 0) {
			btime = strtoull(line + 6, NULL, 10);
			break;
		}
	}
	(void)fclose(f);
	return btime;
}

static uint64_t
metrics_open_fds(void)
{
	DIR		*dir;
	struct dirent	*entry;
	uint64_t	 count = 0;

	if ((dir = opendir("/proc/self/fd")) == NULL)
		return 0;
	/* One DIR, one thread: readdir is safe here (readdir_r is deprecated). */
	// cppcheck-suppress readdirCalled
	while ((entry = readdir(dir)) != NULL)
		if (entry->d_name[0] != '.')
			count++;
	closedir(dir);
	return count > 0 ? count - 1 : 0;	/* not the directory's own descriptor */
}

static void
metrics_format_process(struct metrics_out *o)
{
	uint64_t	 ticks_cpu, ticks_start, rss_pages;
	long		 hz = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	struct rlimit	 rl;

	if (hz > 0 && page > 0 && metrics_read_stat(&ticks_cpu, &ticks_start, &rss_pages) == 0) {
		metrics_header(o, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.");
		metrics_printf(o, "process_cpu_seconds_total %.2f\n", (double)ticks_cpu / (double)hz);
		metrics_header(o, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.");
		metrics_printf(o, "process_resident_memory_bytes %" PRIu64 "\n",
		    rss_pages * (uint64_t)page);
		metrics_header(o, "process_start_time_seconds", "gauge",
		    "Start time of the process since unix epoch in seconds.");
		metrics_printf(o, "process_start_time_seconds %.2f\n",
		    (double)metrics_boot_time() + (double)ticks_start / (double)hz);
	}
	metrics_header(o, "process_open_fds", "gauge", "Number of open file descriptors.");
	metrics_printf(o, "process_open_fds %" PRIu64 "\n", metrics_open_fds());
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		metrics_header(o, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		metrics_printf(o, "process_max_fds %" PRIu64 "\n", rl.rlim_cur == RLIM_INFINITY ?
		    UINT64_MAX : (uint64_t)rl.rlim_cur);
	}
}

int
metrics_format(const struct metrics_view *view, struct buf *out)
{
	struct metrics_out	o = { out, 0 };
	struct metrics_block	sum;
	size_t			start = out->len;

	metrics_total(view, &sum);
	metrics_format_calls(&o, view, &sum);
	metrics_format_connections(&o, view, &sum);
	metrics_format_process(&o);
	if (o.failed) {
		out->len = start;
		return -1;
	}
	return 0;
}
