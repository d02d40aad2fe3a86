/*
 * calcctl_stats: reads the metrics calcd exposes (only the series calcd
 * writes: calcd_calls_total, calcd_call_duration_seconds_bucket,
 * calcd_connections_*, calcd_bytes_*, process_*) and prints the change
 * between two scrapes.  Quantiles are estimated the way Prometheus's
 * histogram_quantile does: linear within the bucket the rank falls in.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "calcctl_net.h"
#include "calcctl_stats.h"

#define CALCCTL_STATS_MAX_TEXT	(4u << 20)

#define CALCCTL_STATS_LABELS	4

struct calcctl_stats_label {
	char	name[CALCCTL_STATS_NAME_LEN];
	char	value[CALCCTL_STATS_NAME_LEN];
};

/* One sample line: name{labels} value. */
struct calcctl_stats_sample {
	char				name[64];
	struct calcctl_stats_label	labels[CALCCTL_STATS_LABELS];
	unsigned			label_count;
	double				value;
};

static const char *
calcctl_stats_label(const struct calcctl_stats_sample *s, const char *name)
{
	for (unsigned i = 0; i < s->label_count; i++)
		if (strcmp(s->labels[i].name, name) == 0)
			return s->labels[i].value;
	return NULL;
}

/* Copy at most size-1 bytes of [p, end) into out; -1 if they don't fit. */
static int
calcctl_stats_copy(char *out, size_t size, const char *p, const char *end)
{
	if ((size_t)(end - p) >= size)
		return -1;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return 0;
}

/* Parse line[0..len) (no newline); -1 if it is not a sample this reader knows how to read. */
static int
calcctl_stats_parse_line(const char *line, size_t len, struct calcctl_stats_sample *s)
{
	const char	*p = line, *end = line + len, *q;
	char		 number[64], *stop;

	memset(s, 0, sizeof *s);
	for (q = p; q < end && *q != '{' && *q != ' '; q++)
		continue;
	if (q == p || calcctl_stats_copy(s->name, sizeof s->name, p, q) != 0)
		return -1;
	p = q;
	if (p < end && *p == '{') {
		for (p++; p < end && *p != '}';) {
			struct calcctl_stats_label *l;

			if (s->label_count == CALCCTL_STATS_LABELS)
				return -1;
			l = &s->labels[s->label_count++];
			for (q = p; q < end && *q != '='; q++)
				continue;
			if (q + 1 >= end || q[1] != '"' ||
			    calcctl_stats_copy(l->name, sizeof l->name, p, q) != 0)
				return -1;
			p = q + 2;
			/* calcd's label values never hold quotes or backslashes. */
			for (q = p; q < end && *q != '"'; q++)
				if (*q == '\\')
					return -1;
			if (q >= end || calcctl_stats_copy(l->value, sizeof l->value, p, q) != 0)
				return -1;
			p = q + 1;
			if (p < end && *p == ',')
				p++;
		}
		if (p >= end)
			return -1;
		p++;
	}
	while (p < end && *p == ' ')
		p++;
	if (p == end || calcctl_stats_copy(number, sizeof number, p, end) != 0)
		return -1;
	s->value = strtod(number, &stop);
	return *stop == '\0' || *stop == ' ' ? 0 : -1;
}

static struct calcctl_stats_method *
calcctl_stats_method(struct calcctl_stats *st, const char *name)
{
	struct calcctl_stats_method *m;

	if (name == NULL)
		return NULL;
	for (unsigned i = 0; i < st->method_count; i++)
		if (strcmp(st->methods[i].name, name) == 0)
			return &st->methods[i];
	if (st->method_count == CALCCTL_STATS_METHODS || strlen(name) >= sizeof m->name)
		return NULL;
	m = &st->methods[st->method_count++];
	memset(m, 0, sizeof *m);
	strcpy(m->name, name);
	return m;
}

static void
calcctl_stats_take(struct calcctl_stats *st, const struct calcctl_stats_sample *s)
{
	static const char *const outcomes[3] = { "ok", "exception", "error" };
	struct calcctl_stats_method	*m;
	const char			*v;

	if (strcmp(s->name, "calcd_calls_total") == 0) {
		m = calcctl_stats_method(st, calcctl_stats_label(s, "method"));
		v = calcctl_stats_label(s, "outcome");
		for (unsigned k = 0; m != NULL && v != NULL && k < 3; k++)
			if (strcmp(v, outcomes[k]) == 0)
				m->calls[k] = s->value;
	} else if (strcmp(s->name, "calcd_call_duration_seconds_bucket") == 0) {
		m = calcctl_stats_method(st, calcctl_stats_label(s, "method"));
		v = calcctl_stats_label(s, "le");
		if (m != NULL && v != NULL && m->bucket_len < CALCCTL_STATS_BUCKETS) {
			m->bucket_le[m->bucket_len] = strcmp(v, "+Inf") == 0 ? INFINITY :
			    strtod(v, NULL);
			m->bucket_count[m->bucket_len++] = s->value;
		}
	} else if (strcmp(s->name, "calcd_connections_closed_total") == 0) {
		v = calcctl_stats_label(s, "reason");
		if (v != NULL && st->reason_count < CALCCTL_STATS_REASONS &&
		    strlen(v) < CALCCTL_STATS_NAME_LEN) {
			strcpy(st->close_reason[st->reason_count], v);
			st->closed[st->reason_count++] = s->value;
		}
	} else if (strcmp(s->name, "calcd_build_info") == 0) {
		v = calcctl_stats_label(s, "version");
		if (v != NULL && strlen(v) < sizeof st->version)
			strcpy(st->version, v);
	} else {
		static const struct {
			const char	*name;
			size_t		 offset;
		} plain[] = {
			{ "calcd_connections_open", offsetof(struct calcctl_stats, connections_open) },
			{ "calcd_connections_max", offsetof(struct calcctl_stats, connections_max) },
			{ "calcd_connections_accepted_total", offsetof(struct calcctl_stats, accepted) },
			{ "calcd_bytes_received_total", offsetof(struct calcctl_stats, bytes_received) },
			{ "calcd_bytes_sent_total", offsetof(struct calcctl_stats, bytes_sent) },
			{ "process_cpu_seconds_total", offsetof(struct calcctl_stats, cpu_seconds) },
			{ "process_resident_memory_bytes",
			  offsetof(struct calcctl_stats, resident_bytes) },
			{ "process_start_time_seconds", offsetof(struct calcctl_stats, start_time) },
		};

		for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
			if (strcmp(s->name, plain[i].name) == 0)
				memcpy((char *)st + plain[i].offset, &s->value, sizeof s->value);
	}
}

int
calcctl_stats_parse(const char *text, size_t len, struct calcctl_stats *st, char *why,
    size_t why_len)
{
	const char			*p = text, *end = text + len;
	struct calcctl_stats_sample	 s;
	unsigned			 lineno = 0;

	memset(st, 0, sizeof *st);
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			eol = end;
		lineno++;
		if (eol > p && *p != '#') {
			if (calcctl_stats_parse_line(p, (size_t)(eol - p), &s) != 0) {
				(void)snprintf(why, why_len, "line %u is not a metric calcctl can "
				    "read", lineno);
				return -1;
			}
			calcctl_stats_take(st, &s);
		}
		p = eol + 1;
	}
	if (st->version[0] == '\0') {
		(void)snprintf(why, why_len, "no calcd_build_info: not calcd's metrics endpoint");
		return -1;
	}
	return 0;
}

double
calcctl_stats_quantile(const struct calcctl_stats_method *before,
    const struct calcctl_stats_method *now, double q)
{
	double		 counts[CALCCTL_STATS_BUCKETS], total, rank, lower = 0, below = 0;
	unsigned	 n = now->bucket_len;

	if (n == 0 || (before != NULL && before->bucket_len != n))
		return -1;
	for (unsigned i = 0; i < n; i++)
		counts[i] = now->bucket_count[i] - (before ? before->bucket_count[i] : 0);
	total = counts[n - 1];
	if (total <= 0)
		return -1;
	rank = q * total;
	for (unsigned i = 0; i < n; i++) {
		if (counts[i] >= rank) {
			if (isinf(now->bucket_le[i]))
				return lower;	/* past the last finite bound: say that bound */
			if (counts[i] == below)
				return now->bucket_le[i];
			return lower + (now->bucket_le[i] - lower) * (rank - below) /
			    (counts[i] - below);
		}
		lower = now->bucket_le[i];
		below = counts[i];
	}
	return lower;
}

/* "12.3us", "4.56ms", "1.20s"; "-" for no calls. */
static void
calcctl_stats_duration(char *out, size_t len, double seconds)
{
	if (seconds < 0)
		(void)snprintf(out, len, "-");
	else if (seconds < 1e-3)
		(void)snprintf(out, len, "%.1fus", seconds * 1e6);
	else if (seconds < 1)
		(void)snprintf(out, len, "%.2fms", seconds * 1e3);
	else
		(void)snprintf(out, len, "%.2fs", seconds);
}

static const struct calcctl_stats_method *
calcctl_stats_find(const struct calcctl_stats *st, const char *name)
{
	for (unsigned i = 0; st != NULL && i < st->method_count; i++)
		if (strcmp(st->methods[i].name, name) == 0)
			return &st->methods[i];
	return NULL;
}

void
calcctl_stats_print(FILE *out, const char *where, const struct calcctl_stats *before,
    const struct calcctl_stats *now, double seconds)
{
	double	total[3] = { 0, 0, 0 }, all, per = seconds > 0 ? seconds : 1;
	char	p50[16], p99[16];

	fprintf(out, "calcd %s at %s: %.0f connection%s open (max_connections %.0f), "
	    "RSS %.1f MiB\n", now->version, where, now->connections_open,
	    now->connections_open == 1 ? "" : "s", now->connections_max,
	    now->resident_bytes / (1024.0 * 1024.0));
	if (before != NULL)
		fprintf(out, "over the last %.1f s: CPU %.1f%%\n", seconds,
		    100.0 * (now->cpu_seconds - before->cpu_seconds) / per);
	else
		fprintf(out, "since calcd started (totals):\n");
	fprintf(out, "%-12s %10s %10s %10s %10s %9s %9s\n", "method",
	    before != NULL ? "calls/s" : "calls", "ok", "exception", "error", "p50", "p99");
	for (unsigned i = 0; i < now->method_count; i++) {
		const struct calcctl_stats_method *m = &now->methods[i];
		const struct calcctl_stats_method *b = calcctl_stats_find(before, m->name);
		double d[3];

		for (unsigned k = 0; k < 3; k++) {
			d[k] = m->calls[k] - (b != NULL ? b->calls[k] : 0);
			total[k] += d[k];
		}
		if (before != NULL && d[0] + d[1] + d[2] == 0)
			continue;	/* quiet methods would only fill the screen */
		calcctl_stats_duration(p50, sizeof p50, calcctl_stats_quantile(b, m, 0.50));
		calcctl_stats_duration(p99, sizeof p99, calcctl_stats_quantile(b, m, 0.99));
		fprintf(out, "%-12s %10.1f %10.0f %10.0f %10.0f %9s %9s\n", m->name,
		    (d[0] + d[1] + d[2]) / (before != NULL ? per : 1), d[0], d[1], d[2], p50, p99);
	}
	all = total[0] + total[1] + total[2];
	fprintf(out, "%-12s %10.1f %10.0f %10.0f %10.0f\n", "all",
	    all / (before != NULL ? per : 1), total[0], total[1], total[2]);
	fprintf(out, "errors: %.2f%% of calls (TApplicationException), %.2f%% declared "
	    "exceptions\n", all > 0 ? 100.0 * total[2] / all : 0.0,
	    all > 0 ? 100.0 * total[1] / all : 0.0);
	fprintf(out, "connections: %.0f accepted", now->accepted - (before ? before->accepted : 0));
	for (unsigned i = 0; i < now->reason_count; i++) {
		double d = now->closed[i];

		for (unsigned j = 0; before != NULL && j < before->reason_count; j++)
			if (strcmp(before->close_reason[j], now->close_reason[i]) == 0)
				d -= before->closed[j];
		if (d > 0)
			fprintf(out, ", %.0f closed (%s)", d, now->close_reason[i]);
	}
	fputc('\n', out);
}

/* --- fetching and the command ---------------------------------------------- */

static volatile sig_atomic_t calcctl_stats_interrupted;

static void
calcctl_stats_on_signal(int sig)
{
	(void)sig;
	calcctl_stats_interrupted = 1;
}

/* GET /metrics over HTTP/1.0 into body; -1 with why. */
static int
calcctl_stats_fetch(const struct calcctl_stats_target *t, struct calcctl_stats *out,
    char *why, size_t why_len)
{
	struct calcctl_net	 net;
	struct buf		 in;
	char			 request[512];
	const uint8_t		*body;
	int			 n, rc = -1;
	ssize_t			 got;

	calcctl_net_init(&net, t->host, t->port, t->timeout_ms, t->verbose);
	buf_init(&in, CALCCTL_STATS_MAX_TEXT);
	n = snprintf(request, sizeof request, "GET /metrics HTTP/1.0\r\nHost: %s\r\n"
	    "User-Agent: calcctl\r\nAccept: text/plain\r\n\r\n", t->where);
	if (n < 0 || (size_t)n >= sizeof request) {
		(void)snprintf(why, why_len, "host name too long");
		goto done;
	}
	if (calcctl_net_connect(&net) != 0 || calcctl_net_send(&net, request, (size_t)n) != 0) {
		(void)snprintf(why, why_len, "%s", net.error);
		goto done;
	}
	while ((got = calcctl_net_recv(&net, &in)) > 0)
		continue;
	if (got < 0) {
		(void)snprintf(why, why_len, "%s", net.error);
		goto done;
	}
	if (in.len < 12 || memcmp(in.data, "HTTP/1.", 7) != 0) {
		(void)snprintf(why, why_len, "not an HTTP server (is this calcd's metrics_listen "
		    "address?)");
		goto done;
	}
	if (memcmp(in.data + 9, "200", 3) != 0) {
		(void)snprintf(why, why_len, "HTTP status %.3s for /metrics", in.data + 9);
		goto done;
	}
	body = memmem(in.data, in.len, "\r\n\r\n", 4);
	if (body == NULL) {
		(void)snprintf(why, why_len, "HTTP reply without a body");
		goto done;
	}
	body += 4;
	rc = calcctl_stats_parse((const char *)body, in.len - (size_t)(body - in.data), out, why,
	    why_len);
done:
	calcctl_net_close(&net);
	buf_free(&in);
	return rc;
}

/* Sleep ms unless interrupted. */
static void
calcctl_stats_sleep(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (!calcctl_stats_interrupted && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		continue;
}

int
calcctl_stats_run(const struct calcctl_stats_target *t, bool watch)
{
	struct calcctl_stats	*prev, *now;
	struct sigaction	 sa;
	char			 why[CALCCTL_NET_ERROR_LEN + 64];
	int64_t			 taken, then;
	int			 status = 2;

	prev = malloc(sizeof *prev);
	now = malloc(sizeof *now);
	if (prev == NULL || now == NULL) {
		fprintf(stderr, "calcctl: stats: out of memory\n");
		goto done;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = calcctl_stats_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	then = calcctl_net_now();
	if (calcctl_stats_fetch(t, prev, why, sizeof why) != 0) {
		fprintf(stderr, "calcctl: %s: stats: %s\n", t->where, why);
		goto done;
	}
	do {
		calcctl_stats_sleep(1000);
		if (calcctl_stats_interrupted)
			break;
		taken = calcctl_net_now();
		if (calcctl_stats_fetch(t, now, why, sizeof why) != 0) {
			fprintf(stderr, "calcctl: %s: stats: %s\n", t->where, why);
			goto done;
		}
		if (watch)
			fputs("\033[H\033[J", stdout);	/* like top: redraw in place */
		calcctl_stats_print(stdout, t->where, prev, now, (double)(taken - then) / 1000.0);
		(void)fflush(stdout);
		memcpy(prev, now, sizeof *prev);
		then = taken;
	} while (watch && !calcctl_stats_interrupted);
	status = 0;
done:
	free(prev);
	free(now);
	return status;
}
